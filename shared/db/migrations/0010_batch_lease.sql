-- Pipeline B: the fence of each client's batch lease. The lease itself lives in the lock store
-- (DynamoDB in AWS, muara_local.locks under `muara up`); its current token is mirrored here,
-- where the batch writes. Every write transaction of a batch reads this row FOR SHARE and
-- checks its own token, so a holder whose lease was taken over (its execution was gone, or an
-- operator unlocked the client) can never write again; a new holder's fence update waits for
-- the old holder's open transaction to end.
CREATE TABLE tools.batch_lease (
    client     text PRIMARY KEY,
    token      text NOT NULL,
    owner      text NOT NULL,
    how        text NOT NULL CHECK (how IN ('acquired', 'taken_over', 'unlocked')),
    fenced_at  timestamptz NOT NULL DEFAULT now()
);
