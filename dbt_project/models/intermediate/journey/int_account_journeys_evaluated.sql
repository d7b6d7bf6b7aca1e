-- The onboarding state of every account at the cycle's clock (as_of). Every rule reads the
-- analyst-editable vars and seeds; the state is a pure function of milestones and the clock, so
-- running the same as_of twice gives the same rows.
--
-- Precedence: suppression (account-level) > activated / retention > win-back > recovery > stalled
-- > onboarding.

{% set activation_events = var('activation_events') %}
{% set window_seconds = var('recovery_window_days') * 86400 %}
{% set max_attempts = var('max_recovery_attempts') %}
{#- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose events, traits or
    opt-outs changed, whose track decision changed, and those on which the clock reached one of the rules
    below (a stall, a recovery window, win-back, retention), each found on the stored rows. The columns
    that move with every clock (hours_stalled, as_of) are the mart's (customer_onboarding_state). -#}
{%- set built = this -%}
{%- set scope = account_scoped_model(roots=[ref('int_contacts_unsubscribed')], also=[
    "select segmented.account_id from " ~ ref('int_accounts_segmented') ~ " as segmented left join " ~ built
    ~ " as built on segmented.account_id = built.account_id where built.account_id is null"
    ~ " or built.track is distinct from segmented.track"
    ~ " or built.track_source is distinct from segmented.track_source"
    ~ " or built.track_confidence is distinct from segmented.track_confidence"
    ~ " or built.track_reason is distinct from segmented.track_reason"
    ~ " or built.icp_score is distinct from segmented.icp_score",
    "select built.account_id from " ~ built ~ " as built inner join " ~ ref('int_account_steps_evaluated')
    ~ " as steps on built.account_id = steps.account_id and steps.step_status = 'current'"
    ~ " where built.stalled_since is null and built.activated_at is null and steps.stalled_at is not null",
    "select account_id from " ~ built ~ " where activated_at is null and not is_account_suppressed and ("
    ~ "(" ~ as_of() ~ " >= checkpoint_at and recovery_attempts < least(" ~ max_attempts ~ ", floor("
    ~ seconds_between('checkpoint_at', as_of()) ~ " / " ~ window_seconds ~ ") + 1))"
    ~ " or (win_back_at is null and checkpoint_at + " ~ interval_seconds(max_attempts * window_seconds)
    ~ " <= " ~ as_of() ~ "))",
    "select account_id from " ~ built ~ " where lifecycle_stage = 'activated' and " ~ as_of()
    ~ " >= greatest(activated_at, signup_at + " ~ interval_days(var('handoff_days')[0]) ~ ")",
]) %}

with accounts as (
    select * from {{ ref('int_accounts_profiled') }}
    where {{ in_account_scope(scope) }}
),

segmented as (
    select * from {{ ref('int_accounts_segmented') }}
    where {{ in_account_scope(scope) }}
),

events as (
    select * from {{ ref('int_account_events_aggregated') }}
    where {{ in_account_scope(scope) }}
),

steps as (
    select * from {{ ref('int_account_steps_evaluated') }}
    where {{ in_account_scope(scope) }}
),

activation as (
    select
        account_id,
        max(first_at) as activated_at,
        max(first_known_at) as activated_known_at
    from events
    where event_name in {{ sql_list(activation_events) }}
    group by account_id
    having count(distinct event_name) = {{ activation_events | length }}
),

last_activity as (
    select
        account_id,
        max(last_at) as last_activity_at
    from events
    group by account_id
),

step_summary as (
    select
        account_id,
        min(step_order) filter (where step_status = 'current') as current_step_order,
        count(*) filter (where goal_event is not null and is_done) as steps_completed,
        count(*) filter (where goal_event is not null) as steps_total
    from steps
    group by account_id
),

current_step as (
    select
        steps.account_id,
        steps.step_key as current_step,
        steps.reached_at as current_step_reached_at,
        steps.wait_hours as current_step_wait_hours
    from steps
    inner join step_summary
        on
            steps.account_id = step_summary.account_id
            and steps.step_order = step_summary.current_step_order
),

first_stall as (
    select
        steps.account_id,
        min(steps.stalled_at) as first_stalled_at,
        min_by(steps.step_key, steps.stalled_at) as first_stall_step
    from steps
    left join activation on steps.account_id = activation.account_id
    where
        steps.stalled_at is not null
        and (activation.activated_at is null or steps.stalled_at < activation.activated_at)
    group by steps.account_id
),

suppression_rules as (
    select * from {{ ref('suppression_events') }}
),

trial_extensions as (
    -- A `trial_extended` event (the billing system, when a trial-extension recovery offer is granted;
    -- property `days`) keeps the trial open until its time + days: a `trial_expired` before that end
    -- does not suppress the account (var lifted_by_trial_extension names the reasons it lifts).
    select
        account_id,
        {%- set extension_days -%}
            coalesce(
                try_cast({{ json_text('last_properties', '$.days') }} as integer),
                {{ var('trial_extension_default_days') }}
            )
        {%- endset %}
        last_at + {{ interval_days(extension_days) }} as extended_until
    from events
    where event_name = 'trial_extended'
),

account_suppressions as (
    select
        events.account_id,
        suppression_rules.suppression_reason,
        suppression_rules.priority,
        case
            when suppression_rules.suppression_reason in {{ sql_list(var('lifted_by_plan_change')) }}
                then events.last_at
            else events.first_at
        end as suppressed_at,
        case
            when suppression_rules.suppression_reason in {{ sql_list(var('lifted_by_plan_change')) }}
                then events.last_known_at
            else events.first_known_at
        end as suppression_known_at,
        coalesce(
            suppression_rules.suppression_reason in {{ sql_list(var('lifted_by_plan_change')) }}
            and accounts.last_plan_change_at > events.last_at,
            false
        ) or coalesce(
            suppression_rules.suppression_reason in {{ sql_list(var('lifted_by_trial_extension')) }}
            and events.last_at < trial_extensions.extended_until,
            false
        ) as is_lifted
    from events
    inner join suppression_rules
        on
            events.event_name = suppression_rules.event
            and suppression_rules.scope = 'account'
    inner join accounts on events.account_id = accounts.account_id
    left join trial_extensions on events.account_id = trial_extensions.account_id
),

active_suppression as (
    select
        account_id,
        min_by(suppression_reason, priority) as suppression_reason,
        min_by(suppressed_at, priority) as suppressed_at,
        min_by(suppression_known_at, priority) as suppression_known_at
    from account_suppressions
    where not is_lifted
    group by account_id
),

unsubscribes as (
    select
        account_id,
        user_id,
        unsubscribed_at
    from {{ ref('int_contacts_unsubscribed') }}
),

roster as (
    select
        csm_id,
        trim(track) as track,
        capacity
    from {{ ref('csm_roster') }}
    {{ split_to_rows('tracks', ';', 't', 'track') }}
),

roster_ranges as (
    select
        track,
        csm_id,
        sum(capacity) over (partition by track order by csm_id) - capacity as bucket_from,
        sum(capacity) over (partition by track order by csm_id) as bucket_to,
        sum(capacity) over (partition by track) as total_capacity
    from roster
),

joined as (
    select
        accounts.*,
        segmented.track,
        segmented.track_source,
        segmented.track_confidence,
        segmented.track_reason,
        segmented.icp_score,
        activation.activated_at,
        activation.activated_known_at,
        last_activity.last_activity_at,
        current_step.current_step,
        current_step.current_step_reached_at,
        current_step.current_step_wait_hours,
        coalesce(step_summary.steps_completed, 0) as steps_completed,
        coalesce(step_summary.steps_total, 0) as steps_total,
        first_stall.first_stalled_at,
        first_stall.first_stall_step,
        active_suppression.suppression_reason as account_suppression_reason,
        active_suppression.suppressed_at as account_suppressed_at,
        active_suppression.suppression_known_at as account_suppression_known_at,
        unsubscribes.unsubscribed_at,
        accounts.signup_at + {{ interval_days(var('checkpoint_day')) }} as checkpoint_at,
        (
            select roster_ranges.csm_id from roster_ranges
            where
                roster_ranges.track = segmented.track
                and {{ md5_bucket('accounts.account_id', 'roster_ranges.total_capacity', in_double=true) }}
                >= roster_ranges.bucket_from
                and {{ md5_bucket('accounts.account_id', 'roster_ranges.total_capacity', in_double=true) }}
                < roster_ranges.bucket_to
        ) as csm_owner,
        ({{ md5_bucket("accounts.account_id || ':holdout'", 10000) }})
        < {{ var('holdout_share') }} * 10000 as holdout
    from accounts
    inner join segmented on accounts.account_id = segmented.account_id
    left join activation on accounts.account_id = activation.account_id
    left join last_activity on accounts.account_id = last_activity.account_id
    left join step_summary on accounts.account_id = step_summary.account_id
    left join current_step on accounts.account_id = current_step.account_id
    left join first_stall on accounts.account_id = first_stall.account_id
    left join active_suppression on accounts.account_id = active_suppression.account_id
    left join unsubscribes
        on
            accounts.account_id = unsubscribes.account_id
            and accounts.primary_user_id = unsubscribes.user_id
),

recovery as (
    select
        *,
        -- Recovery loops end at activation or at an account-level suppression.
        least(activated_at, account_suppressed_at) as journey_ended_at,
        case
            when {{ as_of() }} < checkpoint_at then 0
            else
                least(
                    {{ max_attempts }},
                    floor({{ seconds_between('checkpoint_at', as_of()) }} / {{ window_seconds }}) + 1
                )
        end as attempts_by_clock
    from joined
),

attempts as (
    select
        *,
        cast(
            case
                when journey_ended_at is null then attempts_by_clock
                when journey_ended_at <= checkpoint_at then 0
                else
                    least(
                        attempts_by_clock,
                        ceil(
                            {{ seconds_between('checkpoint_at', 'journey_ended_at') }} / {{ window_seconds }}
                        )
                    )
            end as integer
        ) as recovery_attempts,
        checkpoint_at + {{ interval_seconds(max_attempts * window_seconds) }} as win_back_due_at
    from recovery
),

evaluated as (
    select
        *,
        case
            when recovery_attempts > 0
                then
                    checkpoint_at
                    + {{ interval_seconds(
                        'cast((recovery_attempts - 1) * ' ~ window_seconds ~ ' as bigint)'
                    ) }}
        end as last_recovery_at,
        case
            when
                win_back_due_at <= {{ as_of() }}
                and (journey_ended_at is null or journey_ended_at > win_back_due_at)
                then win_back_due_at
        end as win_back_at,
        activated_at is null
        and current_step is not null
        and current_step_reached_at + {{ interval_hours('current_step_wait_hours') }}
        <= {{ as_of() }} as is_stalled
    from attempts
),

final as (
    select
        account_id,
        company_name,
        primary_user_id,
        signup_at,
        plan_tier,
        mrr,
        arr,
        employees,
        industry,
        country,
        source,
        utm_source,
        utm_campaign,
        use_case,
        upgraded_at,
        track,
        track_source,
        track_confidence,
        track_reason,
        icp_score,
        case
            when account_suppression_reason is not null then 'suppressed'
            when
                activated_at is not null and {{ as_of() }}
                >= greatest(activated_at, signup_at + {{ interval_days(var('handoff_days')[0]) }})
                then 'retention'
            when activated_at is not null then 'activated'
            when win_back_at is not null then 'win_back'
            when recovery_attempts > 0 then 'recovery'
            when is_stalled then 'stalled'
            else 'onboarding'
        end as lifecycle_stage,
        case when activated_at is null then current_step end as current_step,
        current_step_reached_at,
        steps_completed,
        steps_total,
        activated_at,
        activated_known_at,
        case when is_stalled then current_step_reached_at end as stalled_since,
        case when is_stalled then current_step end as stall_step,
        first_stalled_at,
        first_stall_step,
        checkpoint_at,
        recovery_attempts,
        last_recovery_at,
        win_back_at,
        coalesce(
            account_suppression_reason,
            case when unsubscribed_at is not null then (
                select min_by(suppression_rules.suppression_reason, suppression_rules.priority)
                from suppression_rules
                where suppression_rules.scope = 'email'
            ) end
        ) as suppression_reason,
        coalesce(account_suppressed_at, unsubscribed_at) as suppressed_at,
        account_suppression_known_at,
        account_suppression_reason is not null as is_account_suppressed,
        account_suppression_reason is not null or unsubscribed_at is not null as email_suppressed,
        unsubscribed_at,
        csm_owner,
        holdout,
        last_activity_at,
        -- The clock of the build that rewrote this row: the models downstream rebuild the accounts
        -- stamped after their own last build (macros/account_scope.sql, roots).
        {{ as_of() }} as _batch_as_of
    from evaluated
)

select * from final
