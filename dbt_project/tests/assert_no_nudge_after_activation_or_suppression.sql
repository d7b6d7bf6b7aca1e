-- The journey's promise, over every trigger ever decided: no nudge (step_due, stalled, recovery,
-- win_back) was sent by a cycle that already knew the account had activated, and no trigger at all
-- was first found due, or sent, by a cycle that already knew the account was suppressed (cancelled,
-- payment failed, trial expired, deleted). "Knew" = the deciding event had happened and landed by
-- that clock. (Rows from before decisions existed count as sent when emitted.)
with triggers as (
    select
        *,
        coalesce(send_decision, 'send') = 'send' as was_sent,
        coalesce(decided_as_of, emitted_as_of) as sent_as_of
    from {{ ref('onboarding_triggers') }}
),

journeys as (
    select * from {{ ref('int_account_journeys_evaluated') }}
)

select
    triggers.trigger_id,
    triggers.kind,
    triggers.emitted_as_of,
    triggers.sent_as_of,
    journeys.activated_known_at,
    journeys.account_suppression_known_at
from triggers
inner join journeys on triggers.account_id = journeys.account_id
where (
    triggers.was_sent
    and triggers.kind in ('step_due', 'stalled', 'recovery', 'win_back')
    and journeys.activated_known_at <= triggers.sent_as_of
)
or (
    journeys.is_account_suppressed
    and (
        journeys.account_suppression_known_at <= triggers.emitted_as_of
        or (triggers.was_sent and journeys.account_suppression_known_at <= triggers.sent_as_of)
    )
)
