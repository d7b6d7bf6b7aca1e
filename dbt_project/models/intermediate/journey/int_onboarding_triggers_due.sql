-- Every trigger that is due and still relevant at the cycle's clock, with a deterministic id
-- derived from what it means (account, kind, track, step, attempt): the same trigger computed in
-- two cycles is the same row, so it is emitted, and sent, once.
--
-- Still relevant? Nudges (step_due, stalled, recovery, win_back) need an account that is not
-- activated, not suppressed, not unsubscribed and not in the holdout; lifecycle signals
-- (activated, handoff) need an account that is not suppressed. Only the current step and the
-- latest recovery attempt are ever due: a step whose goal is already done is skipped.

with journeys as (
    select * from {{ ref('int_account_journeys_evaluated') }}
    where primary_user_id is not null and not is_account_suppressed
),

steps as (
    select * from {{ ref('int_account_steps_evaluated') }}
),

nudgeable as (
    select * from journeys
    where activated_at is null and not email_suppressed and not holdout
),

step_due as (
    select
        nudgeable.account_id,
        nudgeable.primary_user_id as person_id,
        'step_due' as kind,
        'onboarding_step_due' as event_name,
        steps.track,
        steps.step_key as step,
        cast(null as integer) as attempt,
        steps.reached_at as due_at,
        json_object('track', steps.track, 'step', steps.step_key, 'message', steps.message) as payload
    from nudgeable
    inner join steps
        on nudgeable.account_id = steps.account_id
        and nudgeable.track = steps.track
    where steps.step_status in ('current', 'sent')
        and nudgeable.win_back_at is null
),

stalled as (
    select
        account_id,
        primary_user_id as person_id,
        'stalled' as kind,
        'onboarding_stalled' as event_name,
        track,
        stall_step as step,
        cast(null as integer) as attempt,
        stalled_since + to_hours(
            (select wait_hours from steps
             where steps.account_id = nudgeable.account_id and steps.step_key = nudgeable.stall_step
               and steps.track = nudgeable.track)
        ) as due_at,
        json_object('track', track, 'step', stall_step) as payload
    from nudgeable
    where stall_step is not null and win_back_at is null
),

recovery as (
    select
        account_id,
        primary_user_id as person_id,
        'recovery' as kind,
        'onboarding_recovery' as event_name,
        track,
        cast(null as varchar) as step,
        recovery_attempts as attempt,
        last_recovery_at as due_at,
        json_object('attempt', recovery_attempts, 'track', track) as payload
    from nudgeable
    where recovery_attempts > 0 and win_back_at is null
),

win_back as (
    select
        account_id,
        primary_user_id as person_id,
        'win_back' as kind,
        'onboarding_win_back' as event_name,
        track,
        cast(null as varchar) as step,
        cast(null as integer) as attempt,
        win_back_at as due_at,
        json_object('track', track, 'recovery_attempts', recovery_attempts) as payload
    from nudgeable
    where win_back_at is not null
),

activated as (
    select
        account_id,
        primary_user_id as person_id,
        'activated' as kind,
        'onboarding_activated' as event_name,
        track,
        cast(null as varchar) as step,
        cast(null as integer) as attempt,
        activated_at as due_at,
        json_object('track', track, 'activated_at', epoch(activated_at)::bigint) as payload
    from journeys
    where activated_at is not null
),

handoff_milestones as (
    select
        journeys.account_id,
        journeys.primary_user_id,
        journeys.track,
        journeys.csm_owner,
        'activation' as milestone,
        journeys.activated_at as due_at
    from journeys
    where journeys.activated_at is not null
    {% for day in var('handoff_days') %}
    union all
    select
        account_id,
        primary_user_id,
        track,
        csm_owner,
        'day_{{ day }}' as milestone,
        signup_at + to_days({{ day }}) as due_at
    from journeys
    where activated_at is not null
        and activated_at <= signup_at + to_days({{ day }})
        and signup_at + to_days({{ day }}) <= {{ as_of() }}
    {% endfor %}
),

handoff as (
    select
        account_id,
        primary_user_id as person_id,
        'handoff' as kind,
        'onboarding_handoff' as event_name,
        track,
        milestone as step,
        cast(null as integer) as attempt,
        due_at,
        json_object('csm_owner', csm_owner, 'milestone', milestone, 'track', track) as payload
    from handoff_milestones
),

unioned as (
    select * from step_due
    union all select * from stalled
    union all select * from recovery
    union all select * from win_back
    union all select * from activated
    union all select * from handoff
),

final as (
    select
        md5(concat_ws('|', account_id, kind,
            case when kind in ('step_due', 'stalled') then track else '' end,
            coalesce(step, ''), coalesce(cast(attempt as varchar), ''))) as trigger_id,
        account_id,
        person_id,
        kind,
        event_name,
        track,
        step,
        attempt,
        due_at,
        payload
    from unioned
)

select * from final
