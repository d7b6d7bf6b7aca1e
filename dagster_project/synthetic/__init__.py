"""Synthetic Segment-spec workspace: deterministic accounts, personas, events and their ground truth.

`generate.generate()` is the entry point (the `onboarding generate` command). The modules split
the work so each can be read alone: `catalog` (vocabularies and shares), `clock` (time formats),
`plan` (what one account intends to do), `messages` (that plan as Segment messages, with the
data-quality noise), `truth` (what was planted, recomputed from the messages that were kept),
`files` (streaming gzip writers per landing hour) and `generate` (shards, workers, manifest).
"""
