-- What each account's content is personalised by, at its current track: the use case category of
-- its free-text use case (seeds/use_case_keywords.csv), the library URL for its industry x use case
-- (seeds/content_library.csv) and its nurture tags (seeds/nurture_tags.csv). The track is the one the
-- segmentation holds now, so a re-segmentation on upgrade changes the tags with it.
--
-- Use case: the first keyword found in the lower-cased text (lowest priority, then the longest); none = '*'.
-- Library: the most specific row wins: exact industry and use case, then exact industry, then exact use
-- case, then '*' x '*'.

{#- Hourly, only these accounts are rebuilt (macros/account_scope.sql): those whose profile changed (their
    events or traits) or whose journey state was rebuilt (a changed track rebuilds it); the seeds are the
    project's fingerprint. -#}
{%- set scoped = account_scoped_downstream(roots=[ref('int_account_journeys_evaluated')]) %}

with accounts as (
    select
        profiled.account_id,
        profiled.use_case as use_case_stated,
        lower(coalesce(profiled.use_case, '')) as use_case_text,
        replace(lower(trim(coalesce(profiled.industry, ''))), ' ', '_') as industry,
        segmented.track
    from {{ ref('int_accounts_profiled') }} as profiled
    left join {{ ref('int_accounts_segmented') }} as segmented
        on profiled.account_id = segmented.account_id
    where {{ in_account_scope(scoped.scope, 'profiled.account_id') }}
),

keywords as (
    select * from {{ ref('use_case_keywords') }}
),

library as (
    select * from {{ ref('content_library') }}
),

nurture_tags as (
    select * from {{ ref('nurture_tags') }}
),

categories as (
    select
        accounts.account_id,
        min_by(keywords.use_case, keywords.priority * 1000 - length(keywords.keyword)) as use_case
    from accounts
    inner join keywords on instr(accounts.use_case_text, lower(keywords.keyword)) > 0
    group by accounts.account_id
),

categorised as (
    select
        accounts.*,
        coalesce(categories.use_case, '*') as use_case
    from accounts
    left join categories on accounts.account_id = categories.account_id
),

libraries as (
    select
        categorised.account_id,
        min_by(
            library.library_url,
            cast(library.industry = '*' as integer) * 2 + cast(library.use_case = '*' as integer)
        ) as library_url
    from categorised
    inner join library
        on
            library.industry in ('*', categorised.industry)
            and library.use_case in ('*', categorised.use_case)
    group by categorised.account_id
),

tags as (
    select
        categorised.account_id,
        coalesce(bool_or(nurture_tags.tag = 'community'), false) as tag_community,
        coalesce(bool_or(nurture_tags.tag = 'newsletter'), false) as tag_newsletter,
        coalesce(bool_or(nurture_tags.tag = 'product_updates'), false) as tag_product_updates
    from categorised
    left join nurture_tags on categorised.track = nurture_tags.track
    group by categorised.account_id
),

final as (
    select
        categorised.account_id,
        categorised.track,
        categorised.use_case_stated,
        categorised.use_case,
        libraries.library_url,
        tags.tag_community,
        tags.tag_newsletter,
        tags.tag_product_updates
    from categorised
    left join libraries on categorised.account_id = libraries.account_id
    left join tags on categorised.account_id = tags.account_id
)

select * from final
{{ account_scope_marker(scoped) }}
