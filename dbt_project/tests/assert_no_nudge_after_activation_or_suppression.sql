-- The journey's promise, over every trigger ever emitted: no nudge (step_due, stalled, recovery,
-- win_back) was emitted by a cycle that already knew the account had activated, and no trigger
-- at all by a cycle that already knew the account was suppressed (cancelled, payment failed,
-- trial expired, deleted). "Knew" = the deciding event had happened and landed by that clock.
with triggers as (
    select * from {{ ref('onboarding_triggers') }}
),

journeys as (
    select * from {{ ref('int_account_journeys_evaluated') }}
)

select
    triggers.trigger_id,
    triggers.kind,
    triggers.emitted_as_of,
    journeys.activated_known_at,
    journeys.account_suppression_known_at
from triggers
inner join journeys on triggers.account_id = journeys.account_id
where (
        triggers.kind in ('step_due', 'stalled', 'recovery', 'win_back')
        and journeys.activated_known_at <= triggers.emitted_as_of
    )
    or (
        journeys.is_account_suppressed
        and journeys.account_suppression_known_at <= triggers.emitted_as_of
    )
