-- Demo client, pipeline B downstream: silver (cleaned, typed, one row per key and batch) and
-- gold (dimensions, facts, materialised views) for the `demo` client.
--
-- Idempotent DDL: safe to run any number of times as one simple-query script. Tables, indexes
-- and views are created only when missing; procedures and functions are replaced.
--
-- Steps, in run order (each runs in its own transaction; the runner sets muara.batch_id and
-- muara.client first):
--   transformation (bronze -> silver), procedures:  CALL silver_demo.load_<table>(batch_id)
--   integration (silver -> gold), dimensions first: SELECT gold_demo.load_dim_customers(batch_id)
--                                                   SELECT gold_demo.load_dim_products(batch_id)
--                                  then the fact:   demo_fact_sales.sql (SQL text)
--   materialised views:  REFRESH MATERIALIZED VIEW [CONCURRENTLY] gold_demo.mv_customer_lifetime_value
--                        REFRESH MATERIALIZED VIEW [CONCURRENTLY] gold_demo.mv_order_gap
--     (they are created WITH NO DATA: the first refresh must be a plain one, since CONCURRENTLY
--     needs a populated view)
--
-- Every step is idempotent for its batch: running it again for the same batch leaves the same
-- contents (only the dwh_load_ts columns move).

CREATE SCHEMA IF NOT EXISTS silver_demo;
CREATE SCHEMA IF NOT EXISTS gold_demo;

-- ---------------------------------------------------------------------------------------------
-- Silver tables: one row per business key and batch (the primary key leads with the batch,
-- which is what every step deletes and reads by).
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS silver_demo.crm_cust_info (
    cst_id              integer     NOT NULL,
    cst_key             text,
    cst_firstname       text,
    cst_lastname        text,
    cst_marital_status  text        NOT NULL,   -- 'Single' | 'Married' | 'n/a'
    cst_gndr            text        NOT NULL,   -- 'Male' | 'Female' | 'n/a'
    cst_create_date     date,
    dwh_batch_id        text        NOT NULL,
    dwh_load_ts         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, cst_id)
);

CREATE TABLE IF NOT EXISTS silver_demo.crm_prd_info (
    prd_id        integer     NOT NULL,
    cat_id        text,                        -- derived from prd_key, joins erp_px_cat_g1v2.id
    prd_key       text,
    prd_nm        text,
    prd_cost      numeric     NOT NULL,        -- missing cost -> 0
    prd_line      text        NOT NULL,        -- 'Mountain' | 'Road' | 'Other Sales' | 'Touring' | 'n/a'
    prd_start_dt  date,
    dwh_batch_id  text        NOT NULL,
    dwh_load_ts   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, prd_id)
);

CREATE TABLE IF NOT EXISTS silver_demo.crm_sales_details (
    sls_ord_num   text        NOT NULL,
    sls_prd_key   text,
    sls_cust_id   integer,
    sls_order_dt  date,
    sls_quantity  integer,
    sls_price     numeric,
    sls_sales     numeric,                     -- quantity * price
    dwh_batch_id  text        NOT NULL,
    dwh_load_ts   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, sls_ord_num)
);

CREATE TABLE IF NOT EXISTS silver_demo.erp_cust_az12 (
    cid           text        NOT NULL,        -- without the 'NAS' prefix: matches cst_key
    bdate         date,                        -- future dates -> NULL
    gen           text        NOT NULL,        -- 'Male' | 'Female' | 'n/a'
    dwh_batch_id  text        NOT NULL,
    dwh_load_ts   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, cid)
);

CREATE TABLE IF NOT EXISTS silver_demo.erp_loc_a101 (
    cid           text        NOT NULL,        -- without dashes: matches cst_key
    cntry         text        NOT NULL,        -- country name, 'n/a' when blank
    dwh_batch_id  text        NOT NULL,
    dwh_load_ts   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, cid)
);

CREATE TABLE IF NOT EXISTS silver_demo.erp_px_cat_g1v2 (
    id            text        NOT NULL,
    cat           text,
    subcat        text,
    maintenance   text,
    dwh_batch_id  text        NOT NULL,
    dwh_load_ts   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, id)
);

-- The ERP reference tables are read "as of a batch" by key (see the gold functions).
CREATE INDEX IF NOT EXISTS erp_cust_az12_cid ON silver_demo.erp_cust_az12 (cid);
CREATE INDEX IF NOT EXISTS erp_loc_a101_cid ON silver_demo.erp_loc_a101 (cid);
CREATE INDEX IF NOT EXISTS erp_px_cat_g1v2_id ON silver_demo.erp_px_cat_g1v2 (id);

-- ---------------------------------------------------------------------------------------------
-- Transformation steps (bronze -> silver): CALL silver_demo.load_<table>(batch_id).
-- Each replaces the batch's silver rows with the cleaned rows of the same batch in bronze, and
-- reports the rows it wrote through muara.rows_affected.
-- ---------------------------------------------------------------------------------------------

-- Customers: drop null ids, keep the latest cst_create_date per id (then the smallest values,
-- so ties are deterministic), trim names, spell out marital status and gender.
CREATE OR REPLACE PROCEDURE silver_demo.load_crm_cust_info(p_batch_id text)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM silver_demo.crm_cust_info WHERE dwh_batch_id = p_batch_id;

    INSERT INTO silver_demo.crm_cust_info (cst_id, cst_key, cst_firstname, cst_lastname,
                                           cst_marital_status, cst_gndr, cst_create_date,
                                           dwh_batch_id, dwh_load_ts)
    SELECT DISTINCT ON (c.cst_id)
           c.cst_id,
           trim(c.cst_key),
           trim(c.cst_firstname),
           trim(c.cst_lastname),
           CASE upper(trim(c.cst_marital_status))
               WHEN 'S' THEN 'Single'  WHEN 'SINGLE'  THEN 'Single'
               WHEN 'M' THEN 'Married' WHEN 'MARRIED' THEN 'Married'
               ELSE 'n/a'
           END,
           CASE upper(trim(c.cst_gndr))
               WHEN 'M' THEN 'Male'   WHEN 'MALE'   THEN 'Male'
               WHEN 'F' THEN 'Female' WHEN 'FEMALE' THEN 'Female'
               ELSE 'n/a'
           END,
           c.cst_create_date,
           p_batch_id,
           now()
    FROM bronze_demo.crm_cust_info c
    WHERE c.dwh_batch_id = p_batch_id
      AND c.cst_id IS NOT NULL
    ORDER BY c.cst_id, c.cst_create_date DESC NULLS LAST,
             c.cst_key, c.cst_firstname, c.cst_lastname, c.cst_marital_status, c.cst_gndr;

    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('muara.rows_affected', n::text, true);
END
$$;

-- Products: one row per prd_id; category id from the key's first five characters
-- ('CO-05-...' -> 'CO_05'); line codes spelled out; missing cost -> 0.
CREATE OR REPLACE PROCEDURE silver_demo.load_crm_prd_info(p_batch_id text)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM silver_demo.crm_prd_info WHERE dwh_batch_id = p_batch_id;

    INSERT INTO silver_demo.crm_prd_info (prd_id, cat_id, prd_key, prd_nm, prd_cost, prd_line,
                                          prd_start_dt, dwh_batch_id, dwh_load_ts)
    SELECT DISTINCT ON (p.prd_id)
           p.prd_id,
           nullif(replace(substr(trim(p.prd_key), 1, 5), '-', '_'), ''),
           trim(p.prd_key),
           trim(p.prd_nm),
           coalesce(p.prd_cost, 0),
           CASE upper(trim(p.prd_line))
               WHEN 'M' THEN 'Mountain'
               WHEN 'R' THEN 'Road'
               WHEN 'S' THEN 'Other Sales'
               WHEN 'T' THEN 'Touring'
               ELSE 'n/a'
           END,
           p.prd_start_dt,
           p_batch_id,
           now()
    FROM bronze_demo.crm_prd_info p
    WHERE p.dwh_batch_id = p_batch_id
      AND p.prd_id IS NOT NULL
    ORDER BY p.prd_id, p.prd_start_dt DESC NULLS LAST, p.prd_key, p.prd_nm, p.prd_cost, p.prd_line;

    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('muara.rows_affected', n::text, true);
END
$$;

-- Sales: one row per order number; sales amount = quantity * price.
CREATE OR REPLACE PROCEDURE silver_demo.load_crm_sales_details(p_batch_id text)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM silver_demo.crm_sales_details WHERE dwh_batch_id = p_batch_id;

    INSERT INTO silver_demo.crm_sales_details (sls_ord_num, sls_prd_key, sls_cust_id,
                                               sls_order_dt, sls_quantity, sls_price, sls_sales,
                                               dwh_batch_id, dwh_load_ts)
    SELECT DISTINCT ON (trim(s.sls_ord_num))
           trim(s.sls_ord_num),
           trim(s.sls_prd_key),
           s.sls_cust_id,
           s.sls_order_dt,
           s.sls_quantity,
           s.sls_price,
           s.sls_quantity * s.sls_price,
           p_batch_id,
           now()
    FROM bronze_demo.crm_sales_details s
    WHERE s.dwh_batch_id = p_batch_id
      AND nullif(trim(s.sls_ord_num), '') IS NOT NULL
    ORDER BY trim(s.sls_ord_num), s.sls_order_dt DESC NULLS LAST,
             s.sls_prd_key, s.sls_cust_id, s.sls_quantity, s.sls_price;

    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('muara.rows_affected', n::text, true);
END
$$;

-- ERP demographics: strip the 'NAS' prefix so cid matches cst_key, null out future birth
-- dates, spell out gender; one row per (cleaned) cid.
CREATE OR REPLACE PROCEDURE silver_demo.load_erp_cust_az12(p_batch_id text)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM silver_demo.erp_cust_az12 WHERE dwh_batch_id = p_batch_id;

    INSERT INTO silver_demo.erp_cust_az12 (cid, bdate, gen, dwh_batch_id, dwh_load_ts)
    SELECT DISTINCT ON (e.cid) e.cid, e.bdate, e.gen, p_batch_id, now()
    FROM (
        SELECT CASE WHEN upper(trim(cid)) LIKE 'NAS%' THEN substr(trim(cid), 4)
                    ELSE trim(cid)
               END AS cid,
               CASE WHEN bdate > current_date THEN NULL ELSE bdate END AS bdate,
               CASE upper(trim(gen))
                   WHEN 'M' THEN 'Male'   WHEN 'MALE'   THEN 'Male'
                   WHEN 'F' THEN 'Female' WHEN 'FEMALE' THEN 'Female'
                   ELSE 'n/a'
               END AS gen
        FROM bronze_demo.erp_cust_az12
        WHERE dwh_batch_id = p_batch_id
    ) e
    WHERE nullif(e.cid, '') IS NOT NULL
    ORDER BY e.cid, e.bdate DESC NULLS LAST, e.gen;

    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('muara.rows_affected', n::text, true);
END
$$;

-- ERP locations: drop the dashes so cid matches cst_key ('AW-00011000' -> 'AW00011000'),
-- spell out country codes, blank -> 'n/a'. (In the demo this file fails mapping validation,
-- so bronze is empty and this writes nothing.)
CREATE OR REPLACE PROCEDURE silver_demo.load_erp_loc_a101(p_batch_id text)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM silver_demo.erp_loc_a101 WHERE dwh_batch_id = p_batch_id;

    INSERT INTO silver_demo.erp_loc_a101 (cid, cntry, dwh_batch_id, dwh_load_ts)
    SELECT DISTINCT ON (l.cid) l.cid, l.cntry, p_batch_id, now()
    FROM (
        SELECT replace(trim(cid), '-', '') AS cid,
               CASE upper(trim(cntry))
                   WHEN 'ID'  THEN 'Indonesia'
                   WHEN 'MY'  THEN 'Malaysia'
                   WHEN 'SG'  THEN 'Singapore'
                   WHEN 'DE'  THEN 'Germany'
                   WHEN 'US'  THEN 'United States'
                   WHEN 'USA' THEN 'United States'
                   WHEN ''    THEN 'n/a'
                   ELSE coalesce(trim(cntry), 'n/a')
               END AS cntry
        FROM bronze_demo.erp_loc_a101
        WHERE dwh_batch_id = p_batch_id
    ) l
    WHERE nullif(l.cid, '') IS NOT NULL
    ORDER BY l.cid, l.cntry;

    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('muara.rows_affected', n::text, true);
END
$$;

-- ERP product categories: trimmed, one row per id.
CREATE OR REPLACE PROCEDURE silver_demo.load_erp_px_cat_g1v2(p_batch_id text)
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM silver_demo.erp_px_cat_g1v2 WHERE dwh_batch_id = p_batch_id;

    INSERT INTO silver_demo.erp_px_cat_g1v2 (id, cat, subcat, maintenance, dwh_batch_id, dwh_load_ts)
    SELECT DISTINCT ON (trim(c.id))
           trim(c.id), trim(c.cat), trim(c.subcat), trim(c.maintenance), p_batch_id, now()
    FROM bronze_demo.erp_px_cat_g1v2 c
    WHERE c.dwh_batch_id = p_batch_id
      AND nullif(trim(c.id), '') IS NOT NULL
    ORDER BY trim(c.id), c.cat, c.subcat, c.maintenance;

    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('muara.rows_affected', n::text, true);
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Gold tables.
-- ---------------------------------------------------------------------------------------------

-- dwh_batch_id: the batch that last wrote the row.
CREATE TABLE IF NOT EXISTS gold_demo.dim_customers (
    customer_id     integer     PRIMARY KEY,   -- CRM cst_id
    customer_key    text,                      -- CRM cst_key
    first_name      text,
    last_name       text,
    country         text,                      -- NULL when no location is known
    marital_status  text,
    gender          text,
    birthdate       date,
    create_date     date,
    dwh_batch_id    text        NOT NULL,
    dwh_load_ts     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dim_customers_key ON gold_demo.dim_customers (customer_key);

CREATE TABLE IF NOT EXISTS gold_demo.dim_products (
    product_id      integer     PRIMARY KEY,   -- CRM prd_id
    product_key     text,                      -- CRM prd_key, what sales refer to
    product_name    text,
    category_id     text,
    category        text,                      -- NULL when the category id is unknown
    subcategory     text,
    maintenance     text,
    product_line    text,
    cost            numeric,
    start_date      date,
    dwh_batch_id    text        NOT NULL,
    dwh_load_ts     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dim_products_key ON gold_demo.dim_products (product_key);

-- One row per order line and batch; written by demo_fact_sales.sql.
CREATE TABLE IF NOT EXISTS gold_demo.fact_sales (
    order_number    text        NOT NULL,
    product_key     text,
    customer_id     integer,
    order_date      date,
    quantity        integer,
    price           numeric,
    sales_amount    numeric,
    dwh_batch_id    text        NOT NULL,
    dwh_load_ts     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dwh_batch_id, order_number)
);
CREATE INDEX IF NOT EXISTS fact_sales_customer ON gold_demo.fact_sales (customer_id, order_date);

-- ---------------------------------------------------------------------------------------------
-- Integration steps (silver -> gold): SELECT gold_demo.load_dim_<name>(batch_id), returning the
-- rows written.
-- ---------------------------------------------------------------------------------------------

-- The sequence number of a batch id ('BATCH000042' -> 42): batch ids order by number, not as
-- text ('BATCH1000000' comes after 'BATCH999999').
CREATE OR REPLACE FUNCTION gold_demo.batch_seq(p_batch_id text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT substring(p_batch_id FROM '[0-9]+$')::bigint
$$;

-- Customers of this batch's CRM rows, upserted. ERP demographics and locations may arrive in
-- another batch than the CRM file, so each customer takes the newest ERP row of any batch up
-- to this one (never a later one: re-running an old batch gives the same result).
-- CRM gender wins unless it is 'n/a'.
CREATE OR REPLACE FUNCTION gold_demo.load_dim_customers(p_batch_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO gold_demo.dim_customers (customer_id, customer_key, first_name, last_name,
                                         country, marital_status, gender, birthdate,
                                         create_date, dwh_batch_id, dwh_load_ts)
    WITH az AS (
        SELECT DISTINCT ON (cid) cid, bdate, gen
        FROM silver_demo.erp_cust_az12
        WHERE gold_demo.batch_seq(dwh_batch_id) <= gold_demo.batch_seq(p_batch_id)
        ORDER BY cid, gold_demo.batch_seq(dwh_batch_id) DESC
    ), loc AS (
        SELECT DISTINCT ON (cid) cid, cntry
        FROM silver_demo.erp_loc_a101
        WHERE gold_demo.batch_seq(dwh_batch_id) <= gold_demo.batch_seq(p_batch_id)
        ORDER BY cid, gold_demo.batch_seq(dwh_batch_id) DESC
    )
    SELECT c.cst_id,
           c.cst_key,
           c.cst_firstname,
           c.cst_lastname,
           loc.cntry,
           c.cst_marital_status,
           CASE WHEN c.cst_gndr <> 'n/a' THEN c.cst_gndr ELSE coalesce(az.gen, 'n/a') END,
           az.bdate,
           c.cst_create_date,
           p_batch_id,
           now()
    FROM silver_demo.crm_cust_info c
    LEFT JOIN az  ON az.cid  = c.cst_key
    LEFT JOIN loc ON loc.cid = c.cst_key
    WHERE c.dwh_batch_id = p_batch_id
    ON CONFLICT (customer_id) DO UPDATE
    SET customer_key   = EXCLUDED.customer_key,
        first_name     = EXCLUDED.first_name,
        last_name      = EXCLUDED.last_name,
        country        = EXCLUDED.country,
        marital_status = EXCLUDED.marital_status,
        gender         = EXCLUDED.gender,
        birthdate      = EXCLUDED.birthdate,
        create_date    = EXCLUDED.create_date,
        dwh_batch_id   = EXCLUDED.dwh_batch_id,
        dwh_load_ts    = EXCLUDED.dwh_load_ts;

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Products of this batch's CRM rows, upserted, with their category as of this batch (NULL
-- when the category id is unknown).
CREATE OR REPLACE FUNCTION gold_demo.load_dim_products(p_batch_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO gold_demo.dim_products (product_id, product_key, product_name, category_id,
                                        category, subcategory, maintenance, product_line,
                                        cost, start_date, dwh_batch_id, dwh_load_ts)
    WITH cat AS (
        SELECT DISTINCT ON (id) id, cat, subcat, maintenance
        FROM silver_demo.erp_px_cat_g1v2
        WHERE gold_demo.batch_seq(dwh_batch_id) <= gold_demo.batch_seq(p_batch_id)
        ORDER BY id, gold_demo.batch_seq(dwh_batch_id) DESC
    )
    SELECT p.prd_id,
           p.prd_key,
           p.prd_nm,
           p.cat_id,
           cat.cat,
           cat.subcat,
           cat.maintenance,
           p.prd_line,
           p.prd_cost,
           p.prd_start_dt,
           p_batch_id,
           now()
    FROM silver_demo.crm_prd_info p
    LEFT JOIN cat ON cat.id = p.cat_id
    WHERE p.dwh_batch_id = p_batch_id
    ON CONFLICT (product_id) DO UPDATE
    SET product_key  = EXCLUDED.product_key,
        product_name = EXCLUDED.product_name,
        category_id  = EXCLUDED.category_id,
        category     = EXCLUDED.category,
        subcategory  = EXCLUDED.subcategory,
        maintenance  = EXCLUDED.maintenance,
        product_line = EXCLUDED.product_line,
        cost         = EXCLUDED.cost,
        start_date   = EXCLUDED.start_date,
        dwh_batch_id = EXCLUDED.dwh_batch_id,
        dwh_load_ts  = EXCLUDED.dwh_load_ts;

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Materialised views over all batches. Each has a unique index so that it can be refreshed
-- CONCURRENTLY once it has been populated.
-- ---------------------------------------------------------------------------------------------

-- Lifetime value of every customer who ordered (name and country when the customer is known).
CREATE MATERIALIZED VIEW IF NOT EXISTS gold_demo.mv_customer_lifetime_value AS
SELECT f.customer_id,
       nullif(concat_ws(' ', c.first_name, c.last_name), '')           AS customer_name,
       c.country,
       min(f.order_date)                                               AS first_order,
       max(f.order_date)                                               AS last_order,
       count(DISTINCT f.order_number)                                  AS orders,
       sum(f.sales_amount)                                             AS total_sales,
       round(sum(f.sales_amount) / count(DISTINCT f.order_number), 2)  AS avg_order_value
FROM gold_demo.fact_sales f
LEFT JOIN gold_demo.dim_customers c ON c.customer_id = f.customer_id
WHERE f.customer_id IS NOT NULL
GROUP BY f.customer_id, c.first_name, c.last_name, c.country
WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS mv_customer_lifetime_value_customer
    ON gold_demo.mv_customer_lifetime_value (customer_id);

-- Days between a customer's consecutive order dates, for customers who ordered on at least
-- two different days (several orders on one day count as one date).
CREATE MATERIALIZED VIEW IF NOT EXISTS gold_demo.mv_order_gap AS
WITH order_days AS (
    SELECT DISTINCT customer_id, order_date
    FROM gold_demo.fact_sales
    WHERE customer_id IS NOT NULL AND order_date IS NOT NULL
), gaps AS (
    SELECT customer_id,
           order_date - lag(order_date) OVER (PARTITION BY customer_id ORDER BY order_date) AS gap_days
    FROM order_days
), orders AS (
    SELECT customer_id, count(DISTINCT order_number) AS orders
    FROM gold_demo.fact_sales
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT g.customer_id,
       o.orders,
       round(avg(g.gap_days), 1) AS avg_days_between_orders,
       min(g.gap_days)           AS min_days_between_orders,
       max(g.gap_days)           AS max_days_between_orders
FROM gaps g
JOIN orders o ON o.customer_id = g.customer_id
GROUP BY g.customer_id, o.orders
HAVING count(g.gap_days) >= 1
WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS mv_order_gap_customer
    ON gold_demo.mv_order_gap (customer_id);
