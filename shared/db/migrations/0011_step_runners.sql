-- Pipeline B: least privilege for configured SQL steps. Each client's steps run inside
-- muara_steps.run_<client_id>(script), a SECURITY DEFINER function owned by the client's own
-- role muara_client_<client_id> (NOLOGIN), made on the client's first SQL stage. Inside a
-- security-definer function neither SET ROLE nor RESET ROLE is allowed, so a step cannot leave
-- its role; the role reads and writes the rows of bronze_<client>, silver_<client> and
-- gold_<client> — not tools, auth, audit, the other pipelines' schemas, other clients'
-- schemas, server files or programs. No one but the platform may use this schema.
CREATE SCHEMA IF NOT EXISTS muara_steps;
REVOKE ALL ON SCHEMA muara_steps FROM PUBLIC;
