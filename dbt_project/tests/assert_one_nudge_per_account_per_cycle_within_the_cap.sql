-- Current-state sending, over the whole history: at most one nudge sent per account per cycle, one
-- that fitted the account's lifecycle stage at that clock, and never more than
-- max_nudges_per_person_per_24h per person in any rolling 24 hours.
{% set nudges = "('step_due', 'stalled', 'recovery', 'win_back')" %}
with sent as (
    select * from {{ ref('onboarding_triggers') }}
    where send_decision = 'send' and kind in {{ nudges }}
),

per_account_cycle as (
    select
        'two nudges in one cycle' as problem,
        account_id,
        decided_as_of
    from sent
    group by account_id, decided_as_of
    having count(*) > 1
),

contradicting as (
    select
        'nudge does not fit the stage' as problem,
        account_id,
        decided_as_of
    from sent
    where not (
        (kind = 'step_due' and lifecycle_stage = 'onboarding')
        or (kind = 'stalled' and lifecycle_stage = 'stalled')
        or (kind = 'recovery' and lifecycle_stage = 'recovery')
        or (kind = 'win_back' and lifecycle_stage = 'win_back')
    )
),

over_cap as (
    select
        'over the 24-hour cap' as problem,
        later.account_id,
        later.decided_as_of
    from sent as later
    inner join sent as earlier
        on
            later.person_id = earlier.person_id
            and earlier.decided_as_of > later.decided_as_of - interval 24 hour
            and later.decided_as_of >= earlier.decided_as_of
    group by later.trigger_id, later.account_id, later.decided_as_of
    having count(*) > {{ var('max_nudges_per_person_per_24h') }}
)

select * from per_account_cycle
union all
select * from contradicting
union all
select * from over_cap
