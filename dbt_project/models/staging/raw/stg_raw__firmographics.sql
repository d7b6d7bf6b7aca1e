-- Firmographics from the enrichment file the user drops in (loaded into raw.firmographics by the
-- `raw/firmographics` asset), one row per account; domain and funding stage in lower case.
{#- source() is called unconditionally so the lineage (and Dagster's dependency) always exists;
    the relation is read only once the loader has created it. #}
{%- set firmographics_source = source('raw', 'firmographics') %}
{%- set firmographics = adapter.get_relation(
    database=firmographics_source.database, schema=firmographics_source.schema,
    identifier=firmographics_source.identifier) %}

with
{%- if firmographics is not none %}
source as (
    select * from {{ firmographics_source }}
),

renamed as (
    select
        account_id,
        lower(domain) as domain,
        employees,
        industry,
        country,
        lower(funding_stage) as funding_stage,
        tech_stack,
        founded_year,
        annual_revenue_usd
    from source
)
{%- else %}
renamed as (
    -- No enrichment file loaded yet: an empty relation of the same shape.
    select
        cast(null as string) as account_id,
        cast(null as string) as domain,
        cast(null as integer) as employees,
        cast(null as string) as industry,
        cast(null as string) as country,
        cast(null as string) as funding_stage,
        cast(null as string) as tech_stack,
        cast(null as integer) as founded_year,
        cast(null as double) as annual_revenue_usd
    where false
)
{%- endif %}

select * from renamed
