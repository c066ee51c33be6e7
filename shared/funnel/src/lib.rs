//! Pipeline D, the message funnel.
//!
//! - [`phone`]: phone numbers to E.164 (Indonesian `08…`, `628…`, `+62 8…`).
//! - [`amount`]: transaction amounts in free text (`Rp 1.500.000`, `1,5jt`, `IDR 250000`).
//! - [`classify`]: keyword lists → opening / booking / transaction.
//! - [`webhook`]: WhatsApp Cloud API and generic bodies, the `X-Hub-Signature-256` check.
//! - [`ingest`]: `POST /webhook/{channel}` → raw body in the lake → queued reference.
//! - [`worker`]: a queued reference → classified message → [`store`].
//! - [`store`]: the message once, the phone's funnel row in any order; counters.
//! - [`ledger`]: every kept message stored, refused with a reason, or queued again.
//! - [`observe`]: metrics (`/metrics` locally, CloudWatch EMF in Lambda).
//! - [`report`]: `GET /funnel-report` and the CSV export.
//! - [`service`]: the report, export and keywords as the routes serve them; keyword
//!   replacement.
//! - [`http`]: the routes, and how a delivery's outcome is answered.
//! - [`wire`]: the services built from ports and settings, the same way by every host.
//! - [`sheet`]: the published keyword sheet (CSV) and its sync.
//! - [`client`]: a small HTTP(S) client (the sheet, the CLI's export).

pub mod amount;
pub mod classify;
pub mod client;
pub mod http;
pub mod ingest;
pub mod ledger;
pub mod observe;
pub mod phone;
pub mod report;
pub mod service;
pub mod sheet;
pub mod store;
pub mod webhook;
pub mod wire;
pub mod worker;
