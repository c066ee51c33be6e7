-- Demo client, integration step (silver -> gold): gold_demo.fact_sales for one batch.
-- Runs as SQL text after the dimensions; SQL text takes no parameters, so the batch id comes
-- from current_setting('muara.batch_id'), which the runner sets for the step's transaction.
-- Idempotent: the batch's facts are replaced, so a re-run leaves the same rows.

-- Refuse to run without a batch id (it would silently write nothing).
DO $$
BEGIN
    IF coalesce(current_setting('muara.batch_id', true), '') = '' THEN
        RAISE EXCEPTION 'muara.batch_id is not set';
    END IF;
END
$$;

DELETE FROM gold_demo.fact_sales
WHERE dwh_batch_id = current_setting('muara.batch_id');

-- Report the rows written the same way the procedures do.
WITH inserted AS (
    INSERT INTO gold_demo.fact_sales (order_number, product_key, customer_id, order_date,
                                      quantity, price, sales_amount, dwh_batch_id, dwh_load_ts)
    SELECT s.sls_ord_num,
           s.sls_prd_key,
           s.sls_cust_id,
           s.sls_order_dt,
           s.sls_quantity,
           s.sls_price,
           s.sls_sales,
           s.dwh_batch_id,
           now()
    FROM silver_demo.crm_sales_details s
    WHERE s.dwh_batch_id = current_setting('muara.batch_id')
    RETURNING 1
)
SELECT set_config('muara.rows_affected', count(*)::text, true) AS rows_affected
FROM inserted;
