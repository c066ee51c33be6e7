//! [`Mailer`] on SES (the v1 API, which LocalStack's community edition also emulates).

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_ses::Client;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use muara_core::ports::{Mail, Mailer, SentMail};
use muara_core::{Error, ErrorKind, Result};

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
}

impl SesMailer {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn content(text: &str) -> Result<Content> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| Error::with_source(ErrorKind::Invalid, "building SES content", e))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail> {
        if mail.to.is_empty() {
            return Err(Error::invalid("a mail needs at least one recipient"));
        }
        let out = self
            .client
            .send_email()
            .source(&mail.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(mail.to.clone()))
                    .build(),
            )
            .message(
                Message::builder()
                    .subject(content(&mail.subject)?)
                    .body(Body::builder().text(content(&mail.text)?).build())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("SES SendEmail", e))?;
        Ok(SentMail {
            message_id: out.message_id().to_string(),
            location: None,
        })
    }
}
