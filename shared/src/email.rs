//! Sending an email through SES v2: plain text, so that every mail client shows the same thing.
//! What each email says is its sender's (the exports' and the digest's own modules).

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::domain::Email;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
}

pub async fn send(
    ses: &aws_sdk_sesv2::Client,
    sender: &str,
    to: &Email,
    message: &Composed,
) -> Result<(), aws_sdk_sesv2::Error> {
    let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
    let body = Body::builder().text(content(&message.text)?).build();
    let email = Message::builder().subject(content(&message.subject)?).body(body).build();
    ses.send_email()
        .from_email_address(sender)
        .destination(Destination::builder().to_addresses(to.as_str()).build())
        .content(EmailContent::builder().simple(email).build())
        .send()
        .await?;
    Ok(())
}
