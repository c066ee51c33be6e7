//! Ports: the narrow traits every external service hides behind.
//!
//! Each port is small on purpose; a handler takes the narrowest one it needs as
//! `Arc<dyn Port>`. Every port has an AWS adapter (`muara-aws`) and a local adapter
//! (`muara-local`), and one behavioural contract suite (`tests/`) runs against both.

mod audit;
mod auth;
mod clock;
mod dead_letters;
mod locks;
mod mailer;
mod object_store;
mod orchestrator;
mod queue;

pub use audit::{AuditEntry, AuditLog, AuditRow, AuditSink};
pub use auth::{AuthError, Authenticator, Credentials, Principal, Role, UnknownRole};
pub use clock::{Clock, ManualClock, SystemClock};
pub use dead_letters::{DeadLetter, DeadLetterQueue, DeadLetters, Swept};
pub use locks::{Begin, Holder, IdempotencyStore, Lease, Locks};
pub use mailer::{Mail, Mailer, Notify, SentMail};
pub use object_store::{MultipartUploads, ObjectInfo, ObjectStore, PutOptions, UploadedPart};
pub use orchestrator::{ExecutionInfo, ExecutionStatus, Orchestrator, Started};
pub use queue::{OutgoingMessage, Queue, ReceivedMessage};
