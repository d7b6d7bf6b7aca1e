{#
  The next batch of product events of an incremental model, each with its account.

  A track carries its account in context.groupId; one without (Segment's server libraries never
  add it) belongs to the account its user joined with a `group` call: the latest membership in
  int_account_memberships at or before the track's timestamp (a user in several accounts: the one
  joined last before the event). No such membership: account_id stays null (the caller drops it;
  int_events_unattributed counts it).

  An attributed groupless track becomes known when both it and its group call are known, so
  `known_at` is the later of the two. A group call that lands after its user's tracks attributes
  them in that cycle (`tracks_late`): they were skipped without an account before. A track
  attributed once keeps its account: a late, back-dated group call into another account does not
  move it (a full refresh would).

  `where` narrows the tracks (a SQL condition on stg_segment__tracks' columns). Defines the CTEs
  up to `attributed`.
#}
{% macro attributed_tracks(where='true') -%}
tracks_new as (
    select * from {{ ref('stg_segment__tracks') }}
    where ({{ where }})
    {{ incremental_batch_filter() }}
),

memberships as (
    select user_id, account_id, joined_at, first_known_at, first_load_id
    from {{ ref('int_account_memberships') }}
),

{% if is_incremental() -%}
last_batch as (
    select
        coalesce(max(_batch_load_id), 0) as load_id,
        coalesce(max(_batch_as_of), cast('1970-01-01' as timestamptz)) as as_of
    from {{ this }}
),

memberships_new as (
    select memberships.*
    from memberships, last_batch
    where memberships.first_load_id > last_batch.load_id or memberships.first_known_at > last_batch.as_of
),

tracks_late as (
    select tracks.*
    from {{ ref('stg_segment__tracks') }} as tracks, last_batch
    where tracks.account_id is null
        and ({{ where }})
        and not (tracks.load_id > last_batch.load_id or tracks.known_at > last_batch.as_of)
        and exists (
            select 1 from memberships_new as m
            where m.user_id = tracks.user_id and m.joined_at <= tracks.event_at
        )
        and not exists (
            select 1 from memberships as m
            where m.user_id = tracks.user_id and m.joined_at <= tracks.event_at
                and m.first_load_id <= last_batch.load_id and m.first_known_at <= last_batch.as_of
        )
),

candidates as (
    select * from tracks_new
    union all by name
    select * from tracks_late
),
{%- else -%}
candidates as (
    select * from tracks_new
),
{%- endif %}

attributed as (
    select
        candidates.* exclude (account_id, known_at),
        coalesce(candidates.account_id, memberships.account_id) as account_id,
        case
            when candidates.account_id is null then greatest(candidates.known_at, memberships.first_known_at)
            else candidates.known_at
        end as known_at
    from candidates
    asof left join memberships
        on candidates.user_id = memberships.user_id and candidates.event_at >= memberships.joined_at
)
{%- endmacro %}
