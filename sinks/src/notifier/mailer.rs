//! Mails over SMTP (lettre), and which refusals are worth retrying: a 4xx answer, a timeout or a
//! server that cannot be reached are tried again; a 5xx answer is final.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{NotifierSettings, SmtpSecurity};
use super::templates::Rendered;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try later: the server is away, busy or answered 4xx.
    #[error("mail server unavailable for now: {0}")]
    Transient(String),
    /// Final: the server refused the mail (5xx), or the mail could not be built.
    #[error("mail refused: {0}")]
    Permanent(String),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &NotifierSettings) -> anyhow::Result<Self> {
        let host = settings.smtp_host.as_str();
        let builder = match settings.smtp_security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
        };
        let mut builder = builder
            .port(settings.smtp_port)
            .timeout(Some(Duration::from_millis(settings.smtp_timeout_ms)));
        if let (Some(username), Some(password)) = (&settings.smtp_username, &settings.smtp_password)
        {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: settings.from_address.parse()?,
        })
    }

    /// Sends one mail to `recipients`. `message_id` is derived from the notification, so a mail
    /// that had to be sent again (a crash between sending and recording it) is recognisable as
    /// the same message by the recipients' mail systems.
    pub async fn send(
        &self,
        recipients: &[String],
        mail: &Rendered,
        message_id: &str,
    ) -> Result<(), MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(&mail.subject)
            .message_id(Some(format!("<{message_id}@ucx-notifier>")));
        for recipient in recipients {
            let mailbox: Mailbox = recipient.parse().map_err(|error| {
                MailError::Permanent(format!("recipient {recipient:?}: {error}"))
            })?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|error| MailError::Permanent(format!("building the mail: {error}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(MailError::Permanent(error.to_string())),
            Err(error) => Err(MailError::Transient(error.to_string())),
        }
    }
}
