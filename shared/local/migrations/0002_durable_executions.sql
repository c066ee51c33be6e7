-- Durable local executions: the host running an execution heartbeats it; an execution whose
-- heartbeat is stale (its host crashed or was killed) is adopted by a living host and replayed
-- from its journal of task outcomes, as Step Functions would carry on after a worker died.
ALTER TABLE muara_local.executions
    ADD COLUMN host         text,
    ADD COLUMN heartbeat_at timestamptz,
    ADD COLUMN runs         integer NOT NULL DEFAULT 1;

CREATE INDEX executions_running ON muara_local.executions (heartbeat_at) WHERE status = 'RUNNING';

-- One row per task invocation that finished: {"ok": result} or {"error": …, "cause": …}.
CREATE TABLE muara_local.execution_journal (
    execution_id text NOT NULL REFERENCES muara_local.executions (execution_id) ON DELETE CASCADE,
    key          text NOT NULL,
    outcome      jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, key)
);
