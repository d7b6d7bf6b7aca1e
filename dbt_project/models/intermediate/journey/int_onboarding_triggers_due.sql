-- Every trigger that is due at the cycle's clock, with a deterministic id derived from what it means
-- (account, kind, track, step, attempt): the same trigger computed in two cycles is the same row, so it
-- is decided, and sent, once (marts.onboarding_triggers decides).
--
-- Nudges (step_due, stalled, recovery, win_back) are due for an account that is not activated, not
-- suppressed and not unsubscribed (the holdout's are due too, flagged, so they are recorded, never
-- sent); lifecycle signals (activated, handoff) for an account that is not suppressed. Only the current
-- step, a reached resource step, the current stall and the latest recovery attempt are ever due.
--
-- fits_state: does the nudge match the account's lifecycle stage at this clock? win_back in win_back,
-- the latest recovery attempt in recovery, the stall on the stall step while stalled, and a step while
-- onboarding: the current step, or a resource step whose next goal step is the current one. A nudge
-- that does not fit was superseded by a later state (a stall by the day-14 recovery, a step by its
-- stall) and is never sent. state_priority orders the nudges that fit (the stage's own nudge first,
-- a resource last), so the decision model can pick one per account and cycle.

{#- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose journey state or steps
    were rebuilt since this model's last build (their rows are stamped), and those on which the clock reached
    a hand-off day (day 60, 90: the one rule here that reads the clock), found on the stored rows. -#}
{%- set journeys_model = ref('int_account_journeys_evaluated') -%}
{%- set handoffs_reached = [] -%}
{%- for day in var('handoff_days') -%}
    {%- do handoffs_reached.append(
        "select journeys.account_id from " ~ journeys_model ~ " as journeys where journeys.activated_at is not null"
        ~ " and journeys.csm_owner is not null and journeys.primary_user_id is not null"
        ~ " and not journeys.is_account_suppressed"
        ~ " and journeys.activated_at <= journeys.signup_at + " ~ interval_days(day)
        ~ " and journeys.signup_at + " ~ interval_days(day) ~ " <= " ~ as_of()
        ~ " and not exists (select 1 from " ~ this ~ " as built where built.account_id = journeys.account_id"
        ~ " and built.kind = 'handoff' and built.step = 'day_" ~ day ~ "')"
    ) -%}
{%- endfor -%}
{%- set scoped = account_scoped_downstream(
    roots=[journeys_model, ref('int_account_steps_evaluated')], also=handoffs_reached
) %}

with journeys as (
    select * from {{ journeys_model }}
    where primary_user_id is not null and not is_account_suppressed and {{ in_account_scope(scoped.scope) }}
),

steps as (
    select * from {{ ref('int_account_steps_evaluated') }}
    where {{ in_account_scope(scoped.scope) }}
),

nudgeable as (
    select * from journeys
    where activated_at is null and not email_suppressed
),

step_next_goal as (
    -- For a resource step (no goal), the first goal step after it: the resource fits while that is current.
    select
        *,
        {{ first_value_ignore_nulls('case when goal_event is not null then step_key end') }} over (
            partition by account_id order by step_order rows between 1 following and unbounded following
        ) as next_goal_step
    from steps
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
        {{ json_object_of([
            ('track', 'steps.track'), ('step', 'steps.step_key'), ('message', 'steps.message'),
        ]) }} as payload,
        nudgeable.lifecycle_stage = 'onboarding' and (
            steps.step_status = 'current'
            or (steps.step_status = 'sent' and steps.next_goal_step = nudgeable.current_step)
        ) as fits_state,
        case when steps.step_status = 'current' then 1 else 2 end as state_priority,
        nudgeable.holdout
    from nudgeable
    inner join step_next_goal as steps
        on
            nudgeable.account_id = steps.account_id
            and nudgeable.track = steps.track
    where steps.step_status in ('current', 'sent')
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
        {%- set stall_wait_hours -%}
            (
                select steps.wait_hours from steps
                where
                    steps.account_id = nudgeable.account_id and steps.step_key = nudgeable.stall_step
                    and steps.track = nudgeable.track
            )
        {%- endset %}
        stalled_since + {{ interval_hours(stall_wait_hours) }} as due_at,
        {{ json_object_of([('track', 'track'), ('step', 'stall_step')]) }} as payload,
        lifecycle_stage = 'stalled' as fits_state,
        1 as state_priority,
        holdout
    from nudgeable
    where stall_step is not null
),

recovery as (
    -- The attempt's specific offer (int_recovery_offers_chosen) travels with the event.
    select
        nudgeable.account_id,
        nudgeable.primary_user_id as person_id,
        'recovery' as kind,
        'onboarding_recovery' as event_name,
        nudgeable.track,
        cast(null as string) as step,
        nudgeable.recovery_attempts as attempt,
        nudgeable.last_recovery_at as due_at,
        {{ json_object_of([
            ('attempt', 'nudgeable.recovery_attempts'), ('track', 'nudgeable.track'), ('offer', 'offers.offer'),
            ('offer_detail', 'offers.offer_detail'), ('trial_extension_days', 'offers.trial_extension_days'),
        ]) }} as payload,
        nudgeable.lifecycle_stage = 'recovery' as fits_state,
        1 as state_priority,
        nudgeable.holdout
    from nudgeable
    left join {{ ref('int_recovery_offers_chosen') }} as offers
        on nudgeable.account_id = offers.account_id and nudgeable.recovery_attempts = offers.attempt
    where nudgeable.recovery_attempts > 0
),

win_back as (
    select
        account_id,
        primary_user_id as person_id,
        'win_back' as kind,
        'onboarding_win_back' as event_name,
        track,
        cast(null as string) as step,
        cast(null as integer) as attempt,
        win_back_at as due_at,
        {{ json_object_of([('track', 'track'), ('recovery_attempts', 'recovery_attempts')]) }} as payload,
        lifecycle_stage = 'win_back' as fits_state,
        1 as state_priority,
        holdout
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
        cast(null as string) as step,
        cast(null as integer) as attempt,
        activated_at as due_at,
        {{ json_object_of([
            ('track', 'track'), ('activated_at', epoch_seconds_bigint('activated_at')),
        ]) }} as payload,
        true as fits_state,
        1 as state_priority,
        false as holdout
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
    where journeys.activated_at is not null and journeys.csm_owner is not null
    {% for day in var('handoff_days') %}
    union all
    select
        account_id,
        primary_user_id,
        track,
        csm_owner,
        'day_{{ day }}' as milestone,
        signup_at + {{ interval_days(day) }} as due_at
    from journeys
    where
        activated_at is not null
        and csm_owner is not null
        and activated_at <= signup_at + {{ interval_days(day) }}
        and signup_at + {{ interval_days(day) }} <= {{ as_of() }}
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
        {{ json_object_of([
            ('csm_owner', 'csm_owner'), ('milestone', 'milestone'), ('track', 'track'),
        ]) }} as payload,
        true as fits_state,
        1 as state_priority,
        false as holdout
    from handoff_milestones
),

unioned as (
    select * from step_due
    union all
    select * from stalled
    union all
    select * from recovery
    union all
    select * from win_back
    union all
    select * from activated
    union all
    select * from handoff
),

journey_stages as (
    select
        account_id,
        lifecycle_stage
    from journeys
),

final as (
    select
        md5(concat_ws(
            '|', unioned.account_id, unioned.kind,
            case when unioned.kind in ('step_due', 'stalled') then unioned.track else '' end,
            coalesce(unioned.step, ''), coalesce(cast(unioned.attempt as string), '')
        )) as trigger_id,
        unioned.account_id,
        unioned.person_id,
        unioned.kind,
        unioned.event_name,
        unioned.track,
        unioned.step,
        unioned.attempt,
        unioned.due_at,
        unioned.payload,
        unioned.kind in ('step_due', 'stalled', 'recovery', 'win_back') as is_nudge,
        unioned.fits_state,
        unioned.state_priority,
        unioned.holdout,
        journey_stages.lifecycle_stage
    from unioned
    inner join journey_stages on unioned.account_id = journey_stages.account_id
)

select * from final
{{ account_scope_marker(scoped) }}
