-- One row per alertable status change that is true at the cycle's clock, ranked for the CS team.
--
-- Why a model and not Python: the thresholds that decide who gets a real-time ping (P0) and who waits for
-- the daily digest are business rules the data team tunes (vars `alert_*` in dbt_project.yml); the Slack
-- sync only routes what this table says. alert_id is stable for one status change (one stall episode, one
-- recovery attempt, ...), so the sync alerts once per change and a customer still stalled next hour is the
-- same row, not a new alert.
--
-- Kinds:
--   stalled             no progress on the current step for the stall window (state.stalled_since is set)
--   checkpoint_missed   day-14 checkpoint missed: recovery outreach attempt N is under way
--   win_back            recovery attempts exhausted: hand-off to win-back
--   high_touch_signup   a new high-touch account: the CSM books the kickoff (booking link from the roster)
--   recovered           activated after a stall or a missed checkpoint (announced once)
--   kickoff_booked      a high-touch kickoff is booked: the CSM gets the kickoff briefing (var
--                       alert_kickoff_priority; the Slack sync drafts it, the HubSpot sync files it
--                       as a note)

{% set p0_min_arr = var('alert_p0_min_arr', 25000) %}
{% set p0_min_hours = var('alert_p0_min_hours_stalled', 48) %}
{% set fyi_below_arr = var('alert_fyi_below_arr', 6000) %}
{% set fyi_tracks = var('alert_fyi_tracks', ['self_serve']) %}
{% set unrouted_tracks = var('alert_unrouted_tracks', ['self_serve']) %}
{% set lookback_days = var('alert_lookback_days', 7) %}
{#- Hourly, only the accounts whose inputs changed or whose alert the clock moved are rebuilt; what
    moves with the clock (severity, priority, risk, route, rank) is then set on every row
    (macros/csm_alerts_scope.sql). -#}
{%- set alerts_scope = csm_alerts_scope() -%}
{%- set scoped = alerts_scope.scoped -%}
{%- set priority = alerts_scope.priority -%}
{%- set risk_score = alerts_scope.risk_score %}

with state as (
    select * from {{ ref('customer_onboarding_state') }}
    where {{ in_account_scope(scoped.scope) }}
),

triggers as (
    select * from {{ ref('onboarding_triggers') }}
    where emitted_as_of <= {{ as_of() }} and {{ in_account_scope(scoped.scope) }}
),

roster as (
    select * from {{ ref('csm_roster') }}
),

steps as (
    select * from {{ ref('sequence_steps') }}
),

account_steps as (
    select * from {{ ref('int_account_steps_evaluated') }}
    where {{ in_account_scope(scoped.scope) }}
),

events as (
    select
        account_id,
        event_name,
        first_at
    from {{ ref('int_account_events_aggregated') }}
    where {{ in_account_scope(scoped.scope) }}
),

content as (
    select
        account_id,
        use_case_stated,
        use_case as use_case_category,
        library_url
    from {{ ref('int_accounts_content_personalised') }}
    where {{ in_account_scope(scoped.scope) }}
),

offers as (
    select * from {{ ref('int_recovery_offers_chosen') }}
    where {{ in_account_scope(scoped.scope) }}
),

plan_milestones as (
    -- The 30-day plan as the kickoff briefing lists it: 'due date - milestone [status]'.
    select
        account_id,
        {{ ordered_list(
            format_instant('due_at', '%Y-%m-%d') ~ " || ' - ' || milestone || ' [' || status || ']'",
            'due_at, milestone_key',
        ) }} as plan_milestones
    from {{ ref('onboarding_plan_tasks') }}
    where {{ in_account_scope(scoped.scope) }}
    group by account_id
),

account_suppressions as (
    -- Suppressions that end all work on the account; an unsubscribe stops e-mail only, the CSM still acts.
    select distinct suppression_reason from {{ ref('suppression_events') }}
    where scope = 'account'
),

alertable as (
    select * from state
    where coalesce(suppression_reason, '') not in (
        select account_suppressions.suppression_reason from account_suppressions
    )
),

delivered as (
    -- What the automation actually sent: the Customer.io sync's own record (one row per operation it
    -- delivered, or wrote to the local outbox), at the clock of the cycle that sent it.
    select
        substr(changelog.item_id, 7) as trigger_id,
        any_value(changelog.account_id) as account_id,
        any_value(changelog.event_name) as event_name,
        min(coalesce(runs.as_of, changelog.recorded_at)) as sent_at
    from {{ ref('stg_sync_log__sync_changelog') }} as changelog
    left join {{ ref('stg_sync_log__sync_runs') }} as runs
        on changelog.run_id = runs.run_id and changelog.channel = runs.channel
    where
        {{ csm_alerts_sent_rows('changelog') }}
        and {{ in_account_scope(scoped.scope, 'changelog.account_id') }}
    group by substr(changelog.item_id, 7)
),

sent as (
    select
        delivered.account_id,
        count(*) as triggers_sent_count,
        max(delivered.sent_at) as last_trigger_at,
        {%- set sent_label -%}
            delivered.event_name
            || coalesce(' ' || triggers.step, '')
            || case
                when
                    triggers.attempt is not null and triggers.attempt > 0
                    then ' #' || triggers.attempt
                else ''
            end
            || ' (' || {{ format_instant('delivered.sent_at', '%Y-%m-%d %H:%M') }} || ')'
        {%- endset %}
        {{ ordered_list(sent_label, 'delivered.sent_at, delivered.trigger_id') }} as triggers_sent
    from delivered
    left join triggers on delivered.trigger_id = triggers.trigger_id
    where delivered.sent_at <= {{ as_of() }}
    group by delivered.account_id
),

ever_stalled as (
    select
        account_id,
        min(due_at) as first_stall_at
    from triggers
    where kind in ('stalled', 'recovery', 'win_back')
    group by account_id
),

step_progress as (
    -- Did = the track's goal steps whose goal event happened (in any order), Not yet = the others: the
    -- same steps steps_completed / steps_total count. Titles are the customer-facing names (seed column
    -- customer_title), for anything a customer may read.
    {%- set done = 'account_steps.goal_event is not null and account_steps.is_done' %}
    {%- set todo = 'account_steps.goal_event is not null and not account_steps.is_done' %}
    select
        alertable.account_id,
        {{ ordered_list('account_steps.step_key', 'account_steps.step_order', done) }} as steps_done,
        {{ ordered_list('account_steps.step_key', 'account_steps.step_order', todo) }} as steps_todo,
        {{ ordered_list('titles.customer_title', 'account_steps.step_order', done) }} as steps_done_titles,
        {{ ordered_list('titles.customer_title', 'account_steps.step_order', todo) }} as steps_todo_titles
    from alertable
    inner join account_steps
        on alertable.account_id = account_steps.account_id and alertable.track = account_steps.track
    left join
        steps as titles
        on account_steps.track = titles.track and account_steps.step_key = titles.step_key
    group by alertable.account_id
),

changes as (
    -- Once the day-14 checkpoint is missed, the recovery / win-back row speaks for the stall (one ping
    -- per account, not two for the same situation).
    select
        account_id,
        'stalled' as kind,
        track || '/' || coalesce(stall_step, '') as episode_key,
        stalled_since as changed_at
    from alertable
    where
        stalled_since is not null
        and activated_at is null
        and coalesce(lifecycle_stage, '') not in ('recovery', 'win_back')

    union all

    select
        account_id,
        'checkpoint_missed' as kind,
        cast(recovery_attempts as string) as episode_key,
        last_recovery_at
    from alertable
    where lifecycle_stage = 'recovery' and recovery_attempts >= 1 and activated_at is null

    union all

    select
        account_id,
        'win_back' as kind,
        '' as episode_key,
        win_back_at
    from alertable
    where lifecycle_stage = 'win_back' and activated_at is null

    union all

    select
        alertable.account_id,
        'kickoff_booked' as kind,
        '' as episode_key,
        kickoffs.first_at
    from alertable
    inner join events as kickoffs
        on
            alertable.account_id = kickoffs.account_id
            and kickoffs.event_name = 'kickoff_booked'
    where
        alertable.track = 'high_touch'
        and kickoffs.first_at > {{ as_of() }} - {{ interval_days(lookback_days) }}

    union all

    select
        account_id,
        'high_touch_signup' as kind,
        '' as episode_key,
        signup_at
    from alertable
    where
        track = 'high_touch'
        and activated_at is null
        and signup_at > {{ as_of() }} - {{ interval_days(lookback_days) }}

    union all

    select
        alertable.account_id,
        'recovered' as kind,
        '' as episode_key,
        alertable.activated_at
    from alertable
    inner join ever_stalled on alertable.account_id = ever_stalled.account_id
    where
        alertable.activated_at is not null
        and ever_stalled.first_stall_at <= alertable.activated_at
        and alertable.activated_at > {{ as_of() }} - {{ interval_days(lookback_days) }}
),

enriched as (
    select
        changes.kind,
        changes.episode_key,
        changes.changed_at,
        alertable.*,
        coalesce(alertable.arr, 0) as arr_at_risk,
        greatest(coalesce(alertable.steps_total, 0) - coalesce(alertable.steps_completed, 0), 0)
            as steps_remaining,
        case
            when changes.kind in ('high_touch_signup', 'recovered', 'kickoff_booked')
                then {{ boundaries_between('hour', 'changes.changed_at', as_of()) }}
            else coalesce(
                alertable.hours_stalled,
                {{ boundaries_between(
                    'hour', 'coalesce(alertable.last_activity_at, alertable.signup_at)', as_of(),
                ) }}
            )
        end as severity_hours
    from changes
    inner join alertable on changes.account_id = alertable.account_id
),

prioritised as (
    select
        *,
        {{ priority }} as priority,
        -- ARR at risk, weighted up by how long the account has been stuck (x2 after a week, capped at
        -- 30 days) and by how far it still is from activation (0.5 when one step is left of many, 1.5
        -- when nothing is done).
        {{ risk_score }} as risk_score
    from enriched
),

final as (
    select
        -- ids
        md5(prioritised.account_id || '|' || prioritised.kind || '|' || prioritised.episode_key) as alert_id,
        prioritised.account_id,
        prioritised.primary_user_id,
        prioritised.kind,
        -- ranking
        prioritised.priority,
        -- Tracks without CSM involvement (self-serve) are ranked for the data team but not sent to CSMs;
        -- the digest only counts them.
        case
            when prioritised.track in {{ sql_list(unrouted_tracks) }} then 'none'
            when prioritised.priority = 'P0' then 'realtime'
            else 'digest'
        end as route,
        {#- An hourly build leaves the rank to its clock statement (csm_alerts_scope, ranked_after). -#}
        {%- if alerts_scope.ranked_after %} cast(null as bigint) as alert_rank, {% else %}
        row_number() over (
            order by
                case prioritised.priority when 'P0' then 0 when 'P1' then 1 else 2 end,
                prioritised.risk_score desc,
                prioritised.account_id asc,
                prioritised.kind asc
        ) as alert_rank,
        {%- endif %}
        prioritised.risk_score,
        prioritised.arr_at_risk,
        prioritised.severity_hours,
        prioritised.steps_remaining,
        -- who the customer is
        prioritised.company_name,
        prioritised.plan_tier,
        prioritised.mrr,
        prioritised.arr,
        prioritised.track,
        prioritised.track_source,
        prioritised.lifecycle_stage,
        prioritised.holdout,
        prioritised.email_suppressed,
        -- who owns it
        prioritised.csm_owner,
        roster.name as csm_name,
        roster.slack_user_id as csm_slack_user_id,
        roster.booking_url as csm_booking_url,
        -- what they did and did not do
        prioritised.current_step,
        cur.description as current_step_description,
        cur.customer_title as current_step_title,
        prioritised.steps_completed,
        prioritised.steps_total,
        coalesce(step_progress.steps_done, {{ empty_text_list() }}) as steps_done,
        coalesce(step_progress.steps_todo, {{ empty_text_list() }}) as steps_todo,
        coalesce(step_progress.steps_done_titles, {{ empty_text_list() }}) as steps_done_titles,
        coalesce(step_progress.steps_todo_titles, {{ empty_text_list() }}) as steps_todo_titles,
        prioritised.stall_step,
        prioritised.hours_stalled,
        prioritised.recovery_attempts,
        -- the specific recovery offer to propose: this attempt's once the checkpoint is missed,
        -- else the next one
        offers.offer as recovery_offer,
        offers.offer_detail as recovery_offer_detail,
        offers.trial_extension_days,
        -- the kickoff briefing's facts: ICP, use case, the 30-day plan
        prioritised.icp_score,
        prioritised.industry,
        prioritised.employees,
        content.use_case_stated as use_case,
        content.use_case_category,
        content.library_url,
        coalesce(plan_milestones.plan_milestones, {{ empty_text_list() }}) as plan_milestones,
        -- what the automation already sent
        coalesce(sent.triggers_sent_count, 0) as triggers_sent_count,
        coalesce(sent.triggers_sent, {{ empty_text_list() }}) as triggers_sent,
        -- timestamps
        prioritised.changed_at,
        prioritised.signup_at,
        prioritised.stalled_since,
        prioritised.activated_at,
        prioritised.last_recovery_at,
        prioritised.win_back_at,
        prioritised.last_activity_at,
        sent.last_trigger_at,
        -- the Slack sync's real-time cap per cycle (a var, like every other routing rule)
        {{ var('alert_max_realtime_per_cycle') }} as realtime_cap,
        {{ as_of() }} as as_of
    from prioritised
    left join roster on prioritised.csm_owner = roster.csm_id
    left join step_progress on prioritised.account_id = step_progress.account_id
    left join steps as cur
        on
            prioritised.track = cur.track
            and coalesce(prioritised.stall_step, prioritised.current_step) = cur.step_key
    left join sent on prioritised.account_id = sent.account_id
    left join content on prioritised.account_id = content.account_id
    left join plan_milestones on prioritised.account_id = plan_milestones.account_id
    left join offers
        on
            prioritised.account_id = offers.account_id
            and offers.attempt = least(
                case
                    when
                        prioritised.kind = 'checkpoint_missed'
                        then greatest(prioritised.recovery_attempts, 1)
                    else coalesce(prioritised.recovery_attempts, 0) + 1
                end,
                {{ var('max_recovery_attempts') }}
            )
)

select * from final
{{ account_scope_marker(scoped) }}
