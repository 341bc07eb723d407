"""A coder that learns from people's coding of sentences in context, measured against it.

How the modules fit together, in the order data flows through them:

- `features`: the participant sentences read with spaCy, each with its context (the
  interviewer's question, the rest of the turn, section and position, the rule coder's codes):
  `Units`; and the featurizer that turns them into one sparse matrix.
- `readings`: what spaCy gives of one transcript's sentences (`Reading`), read on its own and
  kept between runs by the digest of its inputs (`ReadingCache`).
- `labels`: people's coding as labels of units (`Labels`), review decisions labelling one code
  of a sentence, and the codebook's own examples.
- `data`: what a coder learns from, read from a processed folder once (`read_sources`) and
  labelled for each use (`training_data`).
- `models`: logistic regression per code (the default) and spaCy's textcat, both learning from
  partial labels.
- `train`: which codes are learned, thresholds chosen on held-out transcripts, the final model
  (`fit_coder`); `qualcode train`.
- `card`: the model card (card.json, card.md).
- `store`: the model folder: saving, loading, its format version.
- `predict`: a model's codings as codings.parquet rows; `qualcode code --coder model|both`.
- `evaluate`: leave-one-transcript-out evaluation, learning curve, ablation;
  `qualcode evaluate`.
- `results`: the evaluation and review tables read back for notebook 02, and the evaluation as
  text for the terminal.
- `active`: the sentences a person should label next (least certain, spread over transcripts
  and codes).
- `review`: where the model and the rules disagree, or what to label next; `qualcode review
  export|next|import`.
- `step`: the learning step of `qualcode run`.
- `simulate`: the review loop simulated with people's coding answering for the person, and
  the coding widened to whole turns (benchmarks/bench_review.py).

Every setting (model kind, features, block weights, C, minimum examples, folds, thresholds) is
in the `learned:` section of config/params.yml (`qualcode.config.LearnedParams`).
"""
