"""De-identification: stable pseudonyms, longest names first, possessives, emails, phones, URLs."""

from __future__ import annotations

import pytest

from qualcode.errors import QualcodeInputError
from qualcode.ingest.deid import Pseudonymiser, PseudonymKey, looks_like_phone


def make(*names: tuple[str, str], keep=(), parts=True) -> Pseudonymiser:
    ps = Pseudonymiser(PseudonymKey(), keep=keep)
    for name, kind in names:
        ps.add_name(name, kind, parts=parts)
    return ps


def test_longest_name_first_and_parts_share_the_pseudonym():
    ps = make(("Daniel Okafor", "PERSON"), ("Daniel Okafor Consulting", "ORG"))
    result = ps.replace(
        "Daniel Okafor Consulting is run by Daniel Okafor. Daniel says hi; OKAFOR too."
    )
    assert result.text == "[ORG_1] is run by [PERSON_1]. [PERSON_1] says hi; [PERSON_1] too."
    assert [s[4] for s in result.spans] == ["ORG", "PERSON", "PERSON", "PERSON"]


def test_case_insensitive_full_names_and_possessives():
    ps = make(("Priya Raman", "PERSON"))
    text = "PRIYA RAMAN's model, priya raman\u2019s data, Raman' notes"
    assert ps.replace(text).text == "[PERSON_1]'s model, [PERSON_1]\u2019s data, [PERSON_1]' notes"


def test_single_word_names_match_only_with_a_capital():
    ps = make(("Marcus Bell", "PERSON"))
    result = ps.replace("Bell rang the bell. BELL!")
    assert result.text == "[PERSON_1] rang the bell. [PERSON_1]!"


def test_common_words_are_no_aliases():
    ps = Pseudonymiser(PseudonymKey(), common_words={"solar"})
    ps.add_name("Sunward Solar", "PERSON", parts=True)
    assert ps.replace("Sunward Solar and Solar panels, Sunward").text == (
        "[PERSON_1] and Solar panels, [PERSON_1]"
    )


def test_emails_phones_urls():
    ps = make(("Dan Okafor", "PERSON"))
    text = (
        "Mail dan.okafor@example.com or call (555) 014-2231, +1 555 014 7789, 555-013-9921; "
        "see https://okafor.dev/about and www.example.org. Back in 2019-2020 we had 1,000 clients."
    )
    result = ps.replace(text)
    assert result.text == (
        "Mail [EMAIL_1] or call [PHONE_1], [PHONE_2], [PHONE_3]; "
        "see [URL_1] and [URL_2]. Back in 2019-2020 we had 1,000 clients."
    )


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("(555) 014-2231", True),
        ("+44 20 7946 0958", True),
        ("2019-2020", False),
        ("10 100 1000", False),
    ],
)
def test_looks_like_phone(text, phone):
    assert looks_like_phone(text) is phone


def test_keep_list_is_never_replaced():
    ps = make(("LinkedIn", "ORG"), ("Northwind", "ORG"), keep=["LinkedIn"])
    assert ps.replace("LinkedIn and Northwind").text == "LinkedIn and [ORG_1]"


def test_key_is_stable_and_new_names_get_the_next_number(tmp_path):
    path = tmp_path / "keys" / "pseudonym_key.csv"
    first = make(("Alan Matsuda", "PERSON"), ("Columbus", "GPE"))
    first.key.save(path)
    again = Pseudonymiser(PseudonymKey.load(path))
    again.activate_key()
    again.add_name("Greg Hollister", "PERSON", parts=True)
    again.add_name("Alan Matsuda", "PERSON", parts=True)
    assert again.replace("Greg met Alan Matsuda in Columbus.").text == (
        "[PERSON_2] met [PERSON_1] in [GPE_1]."
    )
    again.key.save(path)
    assert PseudonymKey.load(path).rows == again.key.rows


def test_bad_key_file_names_the_line(tmp_path):
    path = tmp_path / "pseudonym_key.csv"
    path.write_text("pseudonym,entity_type,original,source\nPERSON_1,ALIEN,Zed,x\n")
    with pytest.raises(QualcodeInputError) as info:
        PseudonymKey.load(path)
    assert info.value.line == 2


def test_map_offset_follows_replacements():
    ps = make(("Margaret Lindqvist", "PERSON"))
    text = "My boss was Margaret Lindqvist. She was organised."
    result = ps.replace(text)
    second = text.index("She")
    assert result.text[result.map_offset(second) :] == "She was organised."
    end_first = text.index(".") + 1
    assert result.text[: result.map_offset(end_first, end=True)] == "My boss was [PERSON_1]."
    inside = text.index("Lindqvist")
    assert result.map_offset(inside) == result.text.index("[PERSON_1]")
    assert result.map_offset(inside, end=True) == result.text.index("[PERSON_1]") + len(
        "[PERSON_1]"
    )


# ---------------------------------------------------------------------------------------------
# which entities are names (qualcode.ingest.name_rules), deny and allow lists, placeholders


from qualcode.ingest.name_rules import NameRules, is_generic_label, is_placeholder  # noqa: E402


@pytest.fixture(scope="module")
def rules() -> NameRules:
    return NameRules(allow=["Kaizen", "Visual Studio"], common={"took"})


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("PDP", "ORG"),
        ("JSON", "PERSON"),
        ("Bitcoin", "PERSON"),
        ("Java", "PERSON"),
        ("Android", "ORG"),
        ("Mac", "PERSON"),
        ("Café", "PERSON"),
        ("I. So", "PERSON"),
        ("XXX", "PERSON"),
        ("[redacted]", "ORG"),
        ("***", "PERSON"),
        ("Participant", "PERSON"),
        ("Speaker 2", "PERSON"),
        ("Kaizen", "PERSON"),
        ("kaizen's", "ORG"),
        ("Visual Studio", "ORG"),
        ("SNOMED", "PERSON"),
    ],
)
def test_traps_are_not_names(rules, text, label):
    assert rules.entity_name(text, label) is None


@pytest.mark.parametrize(
    ("text", "label", "name"),
    [
        ("Serkan Yılmaz", "PERSON", "Serkan Yılmaz"),
        ("Took Luis", "PERSON", "Luis"),
        ("John Smith", "PERSON", "John Smith"),
        ("Fabrikam Insurance", "ORG", "Fabrikam Insurance"),
        ("the Brightline Storage's", "ORG", "Brightline Storage"),
        ("Leamington Spa", "GPE", "Leamington Spa"),
        ("Okafor", "PERSON", "Okafor"),
    ],
)
def test_names_stay_names(rules, text, label, name):
    assert rules.entity_name(text, label) == name


def test_frequency_check_can_be_turned_off():
    assert NameRules(common_word_zipf=0).entity_name("Bitcoin", "PERSON") == "Bitcoin"


def test_placeholders_and_generic_labels():
    assert all(map(is_placeholder, ["XXX", "xxxx", "***", "[redacted]", "[Company name]"]))
    assert not any(map(is_placeholder, ["Xavier", "[laughs]", "XL"]))
    assert all(map(is_generic_label, ["Participant", "Interviewer", "Speaker 1", "speaker_2"]))
    assert not is_generic_label("Priya")


def test_deny_list_replaces_every_case_and_possessives():
    ps = Pseudonymiser(PseudonymKey())
    ps.add_name("Acme Labs", "ORG", any_case=True)
    ps.add_name("Northvale", "GPE", any_case=True)
    text = "acme labs hired me; ACME LABS's office in northvale, Northvale's coast, Acme Labs."
    assert ps.replace(text).text == (
        "[ORG_1] hired me; [ORG_1]'s office in [GPE_1], [GPE_1]'s coast, [ORG_1]."
    )


def test_allow_list_wins_over_a_found_name():
    ps = Pseudonymiser(PseudonymKey(), keep=["Kaizen"])
    assert ps.add_name("Kaizen", "PERSON") is None
    assert ps.replace("Kaizen boards, kaizen.").text == "Kaizen boards, kaizen."


def test_placeholders_are_never_names():
    ps = Pseudonymiser(PseudonymKey())
    assert ps.add_name("XXX", "PERSON") is None
    assert ps.replace("I worked at XXX and [redacted] with ***.").text == (
        "I worked at XXX and [redacted] with ***."
    )


def test_names_of_an_earlier_run_are_replaced_only_when_found_again():
    key = PseudonymKey()
    Pseudonymiser(key).add_name("Bitcoin", "PERSON")
    again = Pseudonymiser(key)
    again.add_name("Greta Solberg", "PERSON", parts=True)
    assert again.replace("Greta bought Bitcoin.").text == "[PERSON_2] bought Bitcoin."
    assert key.get("Bitcoin", "PERSON") == "PERSON_1"  # its number is kept


def test_organisation_first_word_is_an_alias_person_parts_skip_lower_case_words():
    rules = NameRules(lower={"storage"})
    ps = Pseudonymiser(PseudonymKey(), is_rare=rules.is_rare)
    ps.add_name("Fernhill Software", "ORG", parts=True, is_alias=rules.is_org_alias)
    ps.add_name("Brightline Storage", "PERSON", parts=True, is_alias=rules.is_alias)
    text = "Fernhill Software, then Fernhill; Brightline Storage has storage. Storage is cheap."
    assert ps.replace(text).text == (
        "[ORG_1], then [ORG_1]; [PERSON_1] has storage. Storage is cheap."
    )


def test_leftovers_count_names_left_in_another_case():
    ps = make(("Marcus Bell", "PERSON"))
    result = ps.replace("Bell rang the bell.")
    assert ps.leftovers(result.text) == {"PERSON_1": 1}


def test_report_views_count_types_most_replaced_and_doubtful():
    from collections import Counter

    from qualcode.ingest.deid_report import (
        most_replaced,
        narrate,
        replaced_by_type,
        replaced_sometimes,
        report_frames,
    )

    ps = make(("Marcus Bell", "PERSON"), ("Serkan Yilmazoglu", "PERSON"))
    ps.add_name("Northvale", "GPE")
    replaced, left = Counter(), Counter()
    for tid, text in [("t1", "Bell rang the bell in Northvale."), ("t2", "Serkan met Bell.")]:
        result = ps.replace(text)
        replaced.update({(tid, s[5]): 1 for s in result.spans})
        left.update({(tid, p): n for p, n in ps.leftovers(result.text).items()})
    report, review = report_frames(ps, replaced=replaced, left=left, common_word_zipf=4.0)
    assert "Bell" not in report.to_csv() and "Marcus Bell" in review.to_csv()
    by_type = replaced_by_type(report).set_index("entity_type")
    assert by_type.loc["PERSON", "n_replaced"] == 3 and by_type.loc["PERSON", "n_sometimes"] == 1
    assert most_replaced(report)["pseudonym"].iloc[0] == "PERSON_1"
    doubtful = replaced_sometimes(report)
    assert doubtful["pseudonym"].tolist()[0] == "PERSON_1"  # "bell" left, and a common word
    assert "4 mentions by 3 pseudonyms" in narrate(report)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("I worked at Pennant Mutual for years.", ["Pennant Mutual"]),
        ("Then Quillon Risk GmbH hired me.", ["Quillon Risk GmbH"]),
        ("At Kalibra Labs we made sensors.", ["Kalibra Labs"]),
        ("through Veldkamp & Ruis Consultancy, mostly", ["Veldkamp & Ruis Consultancy"]),
        ("After the PhD I joined Optivance as a data scientist.", ["Optivance"]),
        # traps: common words, acronyms and allowed words before a suffix; known words after a verb
        ("The Research Group met on Monday.", []),
        ("the NHS Trust paid", []),
        ("I joined Kaizen Labs and joined Google last year.", []),
    ],
)
def test_organisation_cues(rules, text, names):
    assert rules.org_cue_names(text) == names


def test_lone_words_need_a_second_signal():
    rules = NameRules(mid_capital={"kudipay", "covid"})
    assert rules.entity_name("Covid", "ORG") is None  # a frequent word, alone
    assert rules.entity_name("PowerPoint", "ORG") is None  # a technical term's shape
    assert rules.entity_name("Naïve", "PERSON") is None  # capitalised only opening a sentence
    assert rules.entity_name("Kudipay", "ORG") == "Kudipay"
    assert rules.entity_name("Margit Sørensen", "PERSON") == "Margit Sørensen"


def test_rare_names_in_every_case_common_ones_with_their_capital():
    rules = NameRules(common={"took"})
    ps = Pseudonymiser(PseudonymKey(), is_rare=rules.is_rare)
    ps.add_name("Corvane Analytics", "ORG", parts=True, is_alias=rules.is_org_alias)
    ps.add_name("Rose Tilbury", "PERSON", parts=True, is_alias=rules.is_alias)
    text = "corvane's data, CORVANE again. Costs rose, and Rose said so. Rose is a client."
    assert ps.replace(text).text == (
        "[ORG_1]'s data, [ORG_1] again. Costs rose, and [PERSON_1] said so. Rose is a client."
    )
    # a common first name opening a sentence is replaced where spaCy tagged it there
    assert ps.replace("Rose is a client.", confirmed={"Rose"}).text == "[PERSON_1] is a client."
    # and the alias of a full name spreads over a hard wrap and a possessive
    assert ps.replace("Tilbury's team and Rose\nTilbury").text == "[PERSON_1]'s team and [PERSON_1]"


def test_a_frequent_lone_place_needs_a_place_signal(rules):
    assert rules.entity_name("London", "GPE") is None  # alone, no cue: "Covid" looks the same
    assert rules.entity_name("London", "GPE", place=True) == "London"
    assert rules.entity_name("Covid", "GPE") is None
    text = "a shop out of Bristol, then a job in Cardiff; Covid came"
    assert rules.place_signal(text, "Bristol", strong=True)
    assert rules.place_signal(text, "Cardiff") and not rules.place_signal(
        text, "Cardiff", strong=True
    )
    assert not rules.place_signal(text, "Covid")
    counts = rules.place_cue_counts(["a job in Cardiff.", "registered in Cardiff", "in Stata"])
    assert counts["Cardiff"] == 2 and counts["Stata"] == 1


@pytest.mark.parametrize(
    ("text", "first_names", "tagged", "names"),
    [
        ("a month later Angus McLeish is loyal.", ["Angus"], [], ["Angus McLeish"]),
        ("There's Rhodri Vaughan-Price, who does it", [], ["Rhodri Vaughan-Price"],
         ["Rhodri Vaughan-Price"]),
        ("a dealer, Aitor Mendizabal, who installs", [], ["Mendizabal"], ["Aitor Mendizabal"]),
        ("Next week: Bartholomew Nkemelu on pricing.", [], [], ["Bartholomew Nkemelu"]),
        # traps: a common word or a known word after a first name, an unknown first name alone
        ("Then Angus Data came", ["Angus"], [], []),
        ("we used Visual Studio Code", ["Visual"], [], []),
        ("Dear Tamsin Analytics", ["Tamsin"], [], []),
        ("in Monte Carlo runs", [], [], []),
    ],
)  # fmt: skip
def test_person_cues(text, first_names, tagged, names):
    rules = NameRules(allow=["Visual Studio"], lower={"analytics"})
    assert rules.person_cue_names(text, first_names=first_names, tagged=tagged) == names


@pytest.mark.parametrize(
    ("text", "tagged", "names"),
    [
        ("a campaign group, Open Ledger Fens, that wanted", [], ["Open Ledger Fens"]),
        ("welcome back to Side Door Data, the podcast about data", [], ["Side Door Data"]),
        ("Kalibra's old competitor, BrewSense, already sells", ["BrewSense"], ["BrewSense"]),
        ("runs underwriting at Harrowgate Specialty.", ["Harrowgate Specialty"],
         ["Harrowgate Specialty"]),
        ("a series with The Wash Observer, which won", ["The Wash Observer"], ["Wash Observer"]),
        # traps: allowed or common words, an acronym, words spaCy did not tag after "at"
        ("our client, the NHS, paid", [], []),
        ("a client, Kaizen, paid", [], []),
        ("we met at Open Data Day", [], []),
        ("I work with Harrowgate Specialty.", [], []),
        ("sessions at Visual Studio Events", ["Visual Studio Events"], []),
    ],
)  # fmt: skip
def test_organisation_apposition_and_preposition_cues(rules, text, tagged, names):
    assert rules.org_cue_names(text, tagged=tagged) == names


def test_spelled_out_emails_and_handles_are_replaced():
    ps = make(("Ruth Kowalczyk", "PERSON"))
    text = (
        "Write to ruth dot kowalczyk at gmail dot com or ruth [at] example [dot] org, "
        "or find me as @ruthkowalczyk. Back at the dot com boom we met at noon."
    )
    result = ps.replace(text).text
    assert result == (
        "Write to [EMAIL_1] or [EMAIL_2], or find me as [URL_1]. "
        "Back at the dot com boom we met at noon."
    )


def test_a_shared_surname_stands_for_neither_person():
    ps = make(("Ruth Kowalczyk", "PERSON"), ("Adam Kowalczyk", "PERSON"))
    text = "Ruth Kowalczyk and Adam Kowalczyk: Ruth, Adam, and the Kowalczyk family."
    assert ps.replace(text).text == (
        "[PERSON_1] and [PERSON_2]: [PERSON_1], [PERSON_2], and the [PERSON_3] family."
    )
    # stable: the same names added again (a second run over the same key) change nothing
    again = Pseudonymiser(ps.key)
    again.add_name("Ruth Kowalczyk", "PERSON", parts=True)
    again.add_name("Adam Kowalczyk", "PERSON", parts=True)
    assert again.replace(text).text == ps.replace(text).text
