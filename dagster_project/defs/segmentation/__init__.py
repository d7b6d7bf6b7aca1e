"""AI segmentation of new accounts into onboarding tracks, with a rules fallback and an accuracy audit.

The rules, the ICP score and the guardrail thresholds live in dbt (models/intermediate/segmentation,
vars `segmentation_*`); this package only asks the model about accounts whose input changed, applies
the same guardrails to its answer, records what it cost, and audits accuracy against human labels.
"""
