//! Mailer contract: the outbox and SES (moto) deliver a mail that can be read back.

use crate::support::{MailFx, SENDER, contract, mem_mailer, outbox_mailer, ses_mailer};
use muara_core::ErrorKind;
use muara_core::ports::Mail;

contract!(
    [
        a_sent_mail_can_be_read_back,
        a_mail_without_recipients_is_invalid,
    ],
    local_outbox => outbox_mailer,
    aws_ses => ses_mailer,
    memory => mem_mailer,
);

async fn a_sent_mail_can_be_read_back(fx: &MailFx) -> anyhow::Result<()> {
    let mail = Mail {
        from: SENDER.into(),
        to: vec!["ops@example.com".into(), "lead@example.com".into()],
        subject: "muara: batch BATCH000007 of acme failed".into(),
        text: "1 of 3 files failed.\nRestart with: muara batch restart acme --batch-id BATCH000007"
            .into(),
    };
    let sent = fx.mailer.send(&mail).await?;
    assert!(!sent.message_id.is_empty());
    let back = fx.read_back(&sent).await?;
    assert_eq!(back.subject, mail.subject);
    assert_eq!(back.body.replace("\r\n", "\n"), mail.text);
    assert_eq!(back.to, mail.to);
    Ok(())
}

async fn a_mail_without_recipients_is_invalid(fx: &MailFx) -> anyhow::Result<()> {
    let mail = Mail {
        from: SENDER.into(),
        to: vec![],
        subject: "s".into(),
        text: "t".into(),
    };
    let err = fx.mailer.send(&mail).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    Ok(())
}
