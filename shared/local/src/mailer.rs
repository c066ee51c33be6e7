//! Mail for operators: SMTP when `MUARA_SMTP_URL` is set, otherwise `.eml` files in an
//! outbox folder that any mail client opens.

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use muara_core::ports::{Mail, Mailer, SentMail};
use muara_core::{Error, ErrorKind, Result};
use std::path::PathBuf;

fn build(mail: &Mail) -> Result<Message> {
    let parse = |addr: &str| -> Result<Mailbox> {
        addr.parse().map_err(|e| {
            Error::with_source(
                ErrorKind::Invalid,
                format!("invalid mail address {addr:?}"),
                e,
            )
        })
    };
    if mail.to.is_empty() {
        return Err(Error::invalid("a mail needs at least one recipient"));
    }
    let mut b = Message::builder()
        .from(parse(&mail.from)?)
        .subject(mail.subject.clone())
        .message_id(None)
        .header(ContentType::TEXT_PLAIN);
    for to in &mail.to {
        b = b.to(parse(to)?);
    }
    b.body(mail.text.clone())
        .map_err(|e| Error::with_source(ErrorKind::Invalid, "building the mail", e))
}

fn message_id(msg: &Message) -> String {
    msg.headers()
        .get_raw("Message-ID")
        .map(|v| v.trim_matches(|c| c == '<' || c == '>').to_string())
        .unwrap_or_default()
}

/// Writes each mail as `<outbox>/<utc-time>-<id>.eml`, atomically.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        tokio::fs::create_dir_all(&dir).await?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail> {
        let msg = build(mail)?;
        let id = message_id(&msg);
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .map_err(|e| Error::with_source(ErrorKind::Fatal, "formatting a timestamp", e))?;
        let file_id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.dir.join(format!("{stamp}-{file_id}.eml"));
        let tmp = self.dir.join(format!(".{file_id}.tmp"));
        tokio::fs::write(&tmp, msg.formatted()).await?;
        tokio::fs::rename(&tmp, &path).await?;
        tracing::info!(path = %path.display(), subject = %mail.subject, "mail written to outbox");
        Ok(SentMail {
            message_id: id,
            location: Some(path.display().to_string()),
        })
    }
}

/// Sends through an SMTP server given as a URL: `smtp://host:25` (no TLS),
/// `smtp://host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465` (TLS).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the URL: it may hold a password.
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl SmtpMailer {
    pub fn from_url(url: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                Error::with_source(
                    ErrorKind::Config,
                    "MUARA_SMTP_URL is not a valid SMTP URL",
                    e,
                )
            })?
            .build();
        Ok(Self { transport })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail> {
        let msg = build(mail)?;
        let id = message_id(&msg);
        self.transport.send(msg).await.map_err(|e| {
            let kind = if e.is_permanent() {
                ErrorKind::Invalid
            } else {
                ErrorKind::Retryable
            };
            Error::with_source(kind, "sending mail over SMTP", e)
        })?;
        Ok(SentMail {
            message_id: id,
            location: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_addresses_are_invalid_input() {
        let m = Mail {
            from: "not an address".into(),
            to: vec!["ops@example.com".into()],
            subject: "s".into(),
            text: "t".into(),
        };
        assert_eq!(build(&m).unwrap_err().kind(), ErrorKind::Invalid);
    }

    #[test]
    fn a_smtp_url_without_a_scheme_is_a_config_error() {
        assert_eq!(
            SmtpMailer::from_url("mail.example.com").unwrap_err().kind(),
            ErrorKind::Config
        );
    }
}
