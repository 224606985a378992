//! Mails over SMTP (lettre), and which refusals are worth retrying: a 4xx answer, a timeout or a
//! server that cannot be reached are tried again; a 5xx answer is final.

use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{NotifierSettings, SmtpSecurity};
use crate::templates::Rendered;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try later: the server is away, busy or answered 4xx.
    #[error("mail server unavailable for now: {0}")]
    Transient(String),
    /// Final: the server refused the mail (5xx), or the mail could not be built.
    #[error("mail refused: {0}")]
    Permanent(String),
}

/// Certificate checks against the public roots and, if given, `smtp_ca_file`.
fn tls_parameters(settings: &NotifierSettings) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(settings.smtp_host.clone());
    if let Some(path) = &settings.smtp_ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("notifier.smtp_ca_file {}", path.display()))?;
        let certificate = Certificate::from_pem(&pem).with_context(|| {
            format!(
                "notifier.smtp_ca_file {} is not a PEM certificate",
                path.display()
            )
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    Ok(builder.build()?)
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &NotifierSettings) -> anyhow::Result<Self> {
        let host = settings.smtp_host.as_str();
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
        let builder = match settings.smtp_security {
            SmtpSecurity::None => builder,
            SmtpSecurity::Starttls => builder.tls(Tls::Required(tls_parameters(settings)?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls_parameters(settings)?)),
        };
        let mut builder = builder
            .port(settings.smtp_port)
            .timeout(Some(settings.smtp_timeout_ms));
        if let (Some(username), Some(password)) = (&settings.smtp_username, &settings.smtp_password)
        {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_string(),
            ));
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
            // 5xx, or what the client itself finds impossible (no AUTH mechanism in common):
            // retrying cannot help
            Err(error) if error.is_permanent() || error.is_client() => {
                Err(MailError::Permanent(error.to_string()))
            }
            Err(error) => Err(MailError::Transient(error.to_string())),
        }
    }
}
