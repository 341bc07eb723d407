"""What the report's pages show, computed: every number, table, ranking and quote the notebooks
narrate comes from here, so adding a transcript changes the report.

The functions take the tables of data/processed, participants.csv without its name columns and
the codebook as a frame, loaded once per notebook by `load_study`. Participants are counted by
pseudonym; a code is "voiced" by a participant when at least one of their sentences carries it
and the coding is not negated.

Which file holds what:

- study.py        loading the study (`load_study`, `Study`), its design (the study file with
                  defaults from the data) and the codebook's hierarchy
- transcripts.py  page 01: what came in, who spoke how much, what cleaning removed
- codes.py        how often each code fired, coverage, who voiced what (pages 02 to 04)
- agreement.py    page 02: agreement with people's coding (per code at the sentence, turn and
                  participant unit), the learned coder against the rules; the check beside each
                  count of participants and the "indicative only" flag (pages 02 to 04)
- themes.py       page 03: co-occurrence, interview sections, participant attributes
- quantities.py   stated quantities (hours per client, clients at once)
- saturation.py   code saturation over random orders of the interviews
- support.py      how much evidence a headline or a "most" needs
- quotes.py       page 04: exemplar quotes and counter-evidence
- text.py         wording: plural, percent, listing, decimal, md_escape ...
- checks.py       the premise checks that close each notebook (`PremiseError`)

The notebooks import this package as `from qualcode import analysis as qa` and call what it
exposes below, the notebook-facing API; everything else stays in its module.
"""

from qualcode.analysis.agreement import (
    INDICATIVE,
    NO_HUMAN_CODING,
    agreement_flag,
    agreement_table,
    agreement_view,
    best_coder,
    check_phrase,
    code_checks,
    code_evaluation,
    has_interval,
    indicative_codes,
    is_indicative,
    kappa_by_unit,
    kappa_text,
    largest_gain,
    main_pair,
)
from qualcode.analysis.checks import (
    PremiseError,
    check_codebook_version,
    check_coded_roles,
    check_codes_in_codebook,
    check_no_names,
    check_offsets,
    check_parents,
    check_participant_turns,
    check_participants,
    check_quotes,
    check_similarity,
    check_turn_counts,
    require,
)
from qualcode.analysis.codes import (
    code_frequencies,
    code_matrix,
    codebook_table,
    coverage,
    coverage_summary,
    firing,
    participants_per_code,
    participants_voicing_several,
    top_labels,
    uncoded_sentences,
)
from qualcode.analysis.quantities import describe_values, quantity_phrase, quantity_values
from qualcode.analysis.quotes import counter_evidence, evidence, exemplar_quotes
from qualcode.analysis.saturation import saturation
from qualcode.analysis.study import (
    Study,
    StudyDesign,
    children,
    code_labels,
    codebook_frame,
    descendants,
    leaf_codes,
    load_study,
    top_level_codes,
)
from qualcode.analysis.support import is_supported, support_rule
from qualcode.analysis.text import (
    count_phrase,
    decimal,
    humanise,
    listing,
    md_escape,
    number,
    percent,
    plain_numbers,
    plural,
    some_of,
)
from qualcode.analysis.themes import (
    NO_SECTION,
    attribute_counts,
    attribute_gap,
    attribute_spread,
    codes_by_attribute,
    codes_by_section,
    cooccurrence,
    section_order,
    section_peaks,
    top_pairs,
    voicing,
)
from qualcode.analysis.transcripts import (
    cleaning_example,
    cleaning_summary,
    pseudonyms_by_type,
    talk_share,
    transcript_overview,
)
from qualcode.participants import participant_order, sort_by_participant

__all__ = [
    "participant_order",
    "sort_by_participant",
    "NO_SECTION",
    "PremiseError",
    "Study",
    "StudyDesign",
    "INDICATIVE",
    "NO_HUMAN_CODING",
    "agreement_flag",
    "agreement_table",
    "agreement_view",
    "check_phrase",
    "code_checks",
    "indicative_codes",
    "is_indicative",
    "kappa_by_unit",
    "kappa_text",
    "attribute_counts",
    "attribute_gap",
    "attribute_spread",
    "best_coder",
    "check_codebook_version",
    "check_coded_roles",
    "check_codes_in_codebook",
    "check_no_names",
    "check_offsets",
    "check_parents",
    "check_participant_turns",
    "check_participants",
    "check_quotes",
    "check_similarity",
    "check_turn_counts",
    "children",
    "cleaning_example",
    "cleaning_summary",
    "code_evaluation",
    "has_interval",
    "code_frequencies",
    "code_labels",
    "code_matrix",
    "codebook_frame",
    "codebook_table",
    "codes_by_attribute",
    "codes_by_section",
    "cooccurrence",
    "count_phrase",
    "counter_evidence",
    "coverage",
    "coverage_summary",
    "decimal",
    "plain_numbers",
    "descendants",
    "describe_values",
    "evidence",
    "exemplar_quotes",
    "firing",
    "humanise",
    "is_supported",
    "largest_gain",
    "leaf_codes",
    "listing",
    "load_study",
    "main_pair",
    "md_escape",
    "number",
    "participants_per_code",
    "participants_voicing_several",
    "percent",
    "plural",
    "some_of",
    "pseudonyms_by_type",
    "quantity_phrase",
    "quantity_values",
    "require",
    "saturation",
    "section_order",
    "section_peaks",
    "support_rule",
    "talk_share",
    "top_labels",
    "top_level_codes",
    "top_pairs",
    "transcript_overview",
    "uncoded_sentences",
    "voicing",
]
