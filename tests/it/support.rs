//! Fixtures: each builds one adapter on uniquely named resources of a real service.

use muara_aws::{
    dynamo::DynamoLocks, s3::S3Store, ses::SesMailer, sfn::SfnOrchestrator, sqs::SqsQueue,
};
use muara_local::{
    dirstore::DirStore,
    mailer::OutboxMailer,
    pglocks::PgLocks,
    pgqueue::{PgQueue, QueueSpec},
};
use muara_testkit::{moto, postgres, unique};
use std::sync::Arc;
use std::time::Duration;

/// Runs one contract suite against several adapters:
/// `contract!([case_a, case_b], local_pg => pg_fixture, aws_sqs => sqs_fixture)` generates
/// `mod local_pg { #[tokio::test] async fn case_a() … }` and the same for `aws_sqs`, each test
/// calling `super::case_a(&super::pg_fixture().await?)`.
macro_rules! contract {
    ($cases:tt, $($backend:ident => $fixture:ident),+ $(,)?) => {
        $( crate::support::contract!(@backend $backend, $fixture, $cases); )+
    };
    (@backend $backend:ident, $fixture:ident, [$($case:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    let fx = super::$fixture().await?;
                    super::$case(&fx).await
                }
            )*
        }
    };
}
pub(crate) use contract;

pub async fn aws() -> anyhow::Result<aws_config::SdkConfig> {
    Ok(moto().await?.sdk_config().await)
}

pub async fn pg_pool() -> anyhow::Result<muara_db::Pool> {
    postgres().await?.fresh_pool().await
}

// ---- object store ------------------------------------------------------------------------

pub struct StoreFx {
    pub store: Box<dyn muara_core::ports::ObjectStore>,
    /// The same store's part-by-part multipart uploads.
    pub parts: Box<dyn muara_core::ports::MultipartUploads>,
    /// moto answers `UploadPart` on an unknown upload with a 500 (a `KeyError` inside it)
    /// where S3 answers 404 `NoSuchUpload`.
    pub moto: bool,
    /// Part size when large bodies go up in parts (their checksum is then composite).
    pub multipart: Option<(usize, usize)>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn local_store() -> anyhow::Result<StoreFx> {
    let dir = tempfile::tempdir()?;
    let store = DirStore::open(dir.path().join("lake")).await?;
    Ok(StoreFx {
        store: Box::new(store.clone()),
        parts: Box::new(store),
        moto: false,
        multipart: None,
        _dir: Some(dir),
    })
}

/// The memory twin.
pub async fn mem_store() -> anyhow::Result<StoreFx> {
    let store = std::sync::Arc::new(muara_core::memory::MemStore::default());
    Ok(StoreFx {
        store: Box::new(ArcStore(store.clone())),
        parts: Box::new(ArcStore(store)),
        moto: false,
        multipart: None,
        _dir: None,
    })
}

/// A shared twin behind the boxed ports the store fixture holds.
struct ArcStore(std::sync::Arc<muara_core::memory::MemStore>);

#[async_trait::async_trait]
impl muara_core::ports::ObjectStore for ArcStore {
    async fn put(
        &self,
        key: &str,
        body: bytes::Bytes,
        opts: &muara_core::ports::PutOptions,
    ) -> muara_core::Result<muara_core::ports::ObjectInfo> {
        self.0.put(key, body, opts).await
    }
    async fn get(&self, key: &str) -> muara_core::Result<bytes::Bytes> {
        self.0.get(key).await
    }
    async fn head(&self, key: &str) -> muara_core::Result<Option<muara_core::ports::ObjectInfo>> {
        self.0.head(key).await
    }
    async fn list(&self, prefix: &str) -> muara_core::Result<Vec<muara_core::ports::ObjectInfo>> {
        self.0.list(prefix).await
    }
    async fn delete(&self, key: &str) -> muara_core::Result<()> {
        self.0.delete(key).await
    }
    async fn rename(&self, from: &str, to: &str) -> muara_core::Result<()> {
        self.0.rename(from, to).await
    }
}

#[async_trait::async_trait]
impl muara_core::ports::MultipartUploads for ArcStore {
    async fn start_upload(
        &self,
        key: &str,
        opts: &muara_core::ports::PutOptions,
    ) -> muara_core::Result<String> {
        self.0.start_upload(key, opts).await
    }
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: bytes::Bytes,
    ) -> muara_core::Result<muara_core::ports::UploadedPart> {
        self.0.upload_part(key, upload_id, number, body).await
    }
    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[muara_core::ports::UploadedPart],
    ) -> muara_core::Result<muara_core::ports::ObjectInfo> {
        self.0.complete_upload(key, upload_id, parts).await
    }
    async fn abort_upload(&self, key: &str, upload_id: &str) -> muara_core::Result<()> {
        self.0.abort_upload(key, upload_id).await
    }
}

pub async fn s3_store() -> anyhow::Result<StoreFx> {
    let cfg = aws().await?;
    let client = muara_aws::s3_client(&cfg);
    let bucket = unique("muara-lake");
    client.create_bucket().bucket(&bucket).send().await?;
    let part = muara_aws::s3::MIN_PART_SIZE;
    let store = S3Store::new(client, bucket).with_multipart(part, part);
    Ok(StoreFx {
        store: Box::new(store.clone()),
        parts: Box::new(store),
        moto: moto().await?.is_moto,
        multipart: Some((part, part)),
        _dir: None,
    })
}

// ---- queue -------------------------------------------------------------------------------

pub const VISIBILITY: Duration = Duration::from_secs(1);
pub const MAX_RECEIVES: u32 = 2;

pub struct QueueFx {
    pub queue: Box<dyn muara_core::ports::Queue>,
    pub dlq: Box<dyn muara_core::ports::Queue>,
}

pub async fn pg_queue() -> anyhow::Result<QueueFx> {
    let pool = pg_pool().await?;
    let name = unique("q");
    let dlq = PgQueue::ensure(
        &pool,
        &QueueSpec {
            name: format!("{name}-dlq"),
            visibility_timeout: VISIBILITY,
            redrive: None,
        },
    )
    .await?;
    let queue = PgQueue::ensure(
        &pool,
        &QueueSpec {
            name: name.clone(),
            visibility_timeout: VISIBILITY,
            redrive: Some((format!("{name}-dlq"), MAX_RECEIVES)),
        },
    )
    .await?;
    Ok(QueueFx {
        queue: Box::new(queue),
        dlq: Box::new(dlq),
    })
}

/// The memory twin (a shared dead-letter queue behind the boxed port).
pub async fn mem_queue() -> anyhow::Result<QueueFx> {
    use muara_core::memory::MemQueue;
    let name = unique("q");
    let dlq = std::sync::Arc::new(MemQueue::new(format!("{name}-dlq"), VISIBILITY));
    let queue = MemQueue::new(name, VISIBILITY).with_dead_letters(dlq.clone(), MAX_RECEIVES);
    Ok(QueueFx {
        queue: Box::new(queue),
        dlq: Box::new(ArcQueue(dlq)),
    })
}

/// A memory queue shared with another view of it (its dead-letter queue, a `DeadLetters`).
pub struct ArcQueue(pub std::sync::Arc<muara_core::memory::MemQueue>);

#[async_trait::async_trait]
impl muara_core::ports::Queue for ArcQueue {
    async fn send_batch(
        &self,
        messages: &[muara_core::ports::OutgoingMessage],
    ) -> muara_core::Result<Vec<String>> {
        self.0.send_batch(messages).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> muara_core::Result<Vec<muara_core::ports::ReceivedMessage>> {
        self.0.receive(max, wait).await
    }
    async fn delete_batch(&self, receipts: &[String]) -> muara_core::Result<()> {
        self.0.delete_batch(receipts).await
    }
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> muara_core::Result<()> {
        self.0.change_visibility(receipt, timeout).await
    }
    async fn depth(&self) -> muara_core::Result<u64> {
        self.0.depth().await
    }
}

pub async fn sqs_queue() -> anyhow::Result<QueueFx> {
    let client = aws_sdk_sqs::Client::new(&aws().await?);
    let name = unique("q");
    let dlq = SqsQueue::create(&client, &format!("{name}-dlq"), VISIBILITY, None).await?;
    let queue =
        SqsQueue::create(&client, &name, VISIBILITY, Some((dlq.url(), MAX_RECEIVES))).await?;
    Ok(QueueFx {
        queue: Box::new(queue),
        dlq: Box::new(dlq),
    })
}

// ---- locks and idempotency -----------------------------------------------------------------

pub struct LocksFx {
    pub locks: std::sync::Arc<dyn muara_core::ports::Locks>,
    pub idem: std::sync::Arc<dyn muara_core::ports::IdempotencyStore>,
}

pub async fn pg_locks() -> anyhow::Result<LocksFx> {
    let l = std::sync::Arc::new(PgLocks::new(pg_pool().await?));
    Ok(LocksFx {
        locks: l.clone(),
        idem: l,
    })
}

/// The memory twin.
pub async fn mem_locks() -> anyhow::Result<LocksFx> {
    let l = std::sync::Arc::new(muara_core::memory::MemLocks::default());
    Ok(LocksFx {
        locks: l.clone(),
        idem: l,
    })
}

pub async fn dynamo_locks() -> anyhow::Result<LocksFx> {
    let client = aws_sdk_dynamodb::Client::new(&aws().await?);
    let l = std::sync::Arc::new(DynamoLocks::create_table(&client, &unique("muara-locks")).await?);
    Ok(LocksFx {
        locks: l.clone(),
        idem: l,
    })
}

// ---- mailer --------------------------------------------------------------------------------

pub const SENDER: &str = "muara@example.com";

/// A mail as read back from where the adapter delivered it.
#[derive(Debug)]
pub struct ReadBack {
    pub subject: String,
    pub body: String,
    pub to: Vec<String>,
}

pub struct MailFx {
    pub mailer: std::sync::Arc<dyn muara_core::ports::Mailer>,
    pub backend: MailBackend,
    _dir: Option<tempfile::TempDir>,
}

pub enum MailBackend {
    Outbox,
    Ses,
    Memory(std::sync::Arc<muara_core::memory::MemMailer>),
}

impl MailFx {
    pub async fn read_back(&self, sent: &muara_core::ports::SentMail) -> anyhow::Result<ReadBack> {
        match &self.backend {
            MailBackend::Outbox => {
                let path = sent
                    .location
                    .as_ref()
                    .expect("outbox mails have a location");
                let raw = std::fs::read_to_string(path)?;
                let (head, body) = raw
                    .split_once("\r\n\r\n")
                    .expect("headers, blank line, body");
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
                        .unwrap_or_default()
                };
                Ok(ReadBack {
                    subject: header("Subject"),
                    body: body.trim_end().to_string(),
                    to: header("To").split(", ").map(str::to_string).collect(),
                })
            }
            MailBackend::Memory(m) => {
                let mail = m
                    .read_back(&sent.message_id)
                    .ok_or_else(|| anyhow::anyhow!("no mail {}", sent.message_id))?;
                Ok(ReadBack {
                    subject: mail.subject,
                    body: mail.text,
                    to: mail.to,
                })
            }
            MailBackend::Ses => {
                // moto's state dump; it fails once any Lambda function exists in the emulator,
                // so no test creates one.
                let data = moto().await?.data().await?;
                let msg = data["ses"]["Message"]
                    .as_array()
                    .and_then(|m| m.iter().find(|m| m["id"] == sent.message_id.as_str()))
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("SES has no message {}", sent.message_id))?;
                Ok(ReadBack {
                    subject: msg["subject"].as_str().unwrap_or_default().to_string(),
                    body: msg["body"].as_str().unwrap_or_default().to_string(),
                    to: msg["destinations"]["ToAddresses"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            }
        }
    }
}

pub async fn outbox_mailer() -> anyhow::Result<MailFx> {
    let dir = tempfile::tempdir()?;
    let outbox = dir.path().join("outbox");
    Ok(MailFx {
        mailer: std::sync::Arc::new(OutboxMailer::open(&outbox).await?),
        backend: MailBackend::Outbox,
        _dir: Some(dir),
    })
}

/// The memory twin.
pub async fn mem_mailer() -> anyhow::Result<MailFx> {
    let m = std::sync::Arc::new(muara_core::memory::MemMailer::default());
    Ok(MailFx {
        mailer: m.clone(),
        backend: MailBackend::Memory(m),
        _dir: None,
    })
}

pub async fn ses_mailer() -> anyhow::Result<MailFx> {
    let client = aws_sdk_ses::Client::new(&aws().await?);
    client
        .verify_email_identity()
        .email_address(SENDER)
        .send()
        .await?;
    Ok(MailFx {
        mailer: std::sync::Arc::new(SesMailer::new(client)),
        backend: MailBackend::Ses,
        _dir: None,
    })
}

// ---- orchestrator --------------------------------------------------------------------------

/// A machine both hosts run without tasks: a Choice that either passes or fails.
pub const CONTRACT_MACHINE: &str = r#"{
  "Comment": "orchestrator contract: pass or fail on input",
  "StartAt": "Decide",
  "States": {
    "Decide": {
      "Type": "Choice",
      "Choices": [{
        "And": [
          { "Variable": "$.fail", "IsPresent": true },
          { "Variable": "$.fail", "BooleanEquals": true }
        ],
        "Next": "Boom"
      }],
      "Default": "Greet"
    },
    "Greet": { "Type": "Pass", "Parameters": { "who.$": "$.who", "greeted": true }, "End": true },
    "Boom": { "Type": "Fail", "Error": "Demo.Failure", "Cause": "asked to fail" }
  }
}"#;

pub struct OrchFx {
    pub orch: std::sync::Arc<dyn muara_core::ports::Orchestrator>,
    pub machine: String,
}

struct NoTasks;

#[async_trait::async_trait]
impl muara_asl::TaskInvoker for NoTasks {
    async fn invoke(
        &self,
        resource: &str,
        _input: serde_json::Value,
    ) -> Result<serde_json::Value, muara_asl::TaskFailure> {
        Err(muara_asl::TaskFailure {
            error: "States.TaskFailed".into(),
            cause: format!("no task {resource}"),
        })
    }
}

pub async fn local_orchestrator() -> anyhow::Result<OrchFx> {
    let orch = muara_local::orchestrator::LocalOrchestrator::new(
        pg_pool().await?,
        std::sync::Arc::new(NoTasks),
    );
    orch.register("contract", CONTRACT_MACHINE, &Default::default())?;
    Ok(OrchFx {
        orch: std::sync::Arc::new(orch),
        machine: "contract".into(),
    })
}

/// The memory twin: the same interpreter as the local orchestrator, executions in memory.
pub async fn mem_orchestrator() -> anyhow::Result<OrchFx> {
    let orch = muara_asl::memory::MemOrchestrator::new(std::sync::Arc::new(NoTasks));
    orch.register("contract", CONTRACT_MACHINE, &Default::default())?;
    Ok(OrchFx {
        orch: std::sync::Arc::new(orch),
        machine: "contract".into(),
    })
}

pub async fn sfn_orchestrator() -> anyhow::Result<OrchFx> {
    let client = aws_sdk_sfn::Client::new(&aws().await?);
    let name = unique("contract");
    let out = client
        .create_state_machine()
        .name(&name)
        .definition(CONTRACT_MACHINE)
        .role_arn("arn:aws:iam::123456789012:role/muara-test")
        .send()
        .await?;
    let machines = [("contract".to_string(), out.state_machine_arn().to_string())].into();
    Ok(OrchFx {
        orch: std::sync::Arc::new(SfnOrchestrator::new(client, machines)),
        machine: "contract".into(),
    })
}

// ---- an ingest's queue and idempotency records (pipelines C and D) --------------------------

pub type QueueAndClaims = (
    std::sync::Arc<dyn muara_core::ports::Queue>,
    std::sync::Arc<dyn muara_core::ports::IdempotencyStore>,
);

/// A uniquely named queue (2 s visibility, no dead-letter queue) and idempotency records, on
/// PostgreSQL.
pub async fn local_queue_and_claims(
    pool: &muara_db::Pool,
    prefix: &str,
) -> anyhow::Result<QueueAndClaims> {
    let queue = PgQueue::ensure(
        pool,
        &QueueSpec {
            name: unique(prefix),
            visibility_timeout: Duration::from_secs(2),
            redrive: None,
        },
    )
    .await?;
    Ok((
        std::sync::Arc::new(queue),
        std::sync::Arc::new(PgLocks::new(pool.clone())),
    ))
}

/// The same on the emulator's SQS and DynamoDB.
pub async fn aws_queue_and_claims(prefix: &str) -> anyhow::Result<QueueAndClaims> {
    let cfg = aws().await?;
    let queue = SqsQueue::create(
        &aws_sdk_sqs::Client::new(&cfg),
        &unique(prefix),
        Duration::from_secs(2),
        None,
    )
    .await?;
    let idem =
        DynamoLocks::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &unique("muara-idem"))
            .await?;
    Ok((std::sync::Arc::new(queue), std::sync::Arc::new(idem)))
}

/// Puts the real token store and audit log on `state` and makes an admin token (returned).
pub async fn with_admin(
    state: &mut muara_api::AppState,
    pool: &muara_db::Pool,
) -> anyhow::Result<String> {
    let tokens = Arc::new(muara_console::TokenStore::new(pool.clone()));
    let admin = muara_api::Principal::system("test", "test");
    let made = tokens
        .create_token(&admin, &unique("admin"), muara_api::Role::Admin, None)
        .await?;
    state.auth = Some(tokens);
    state.audit = Some(Arc::new(muara_console::PgAudit::new(pool.clone())));
    Ok(made.token)
}
