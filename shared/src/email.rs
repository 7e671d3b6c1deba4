//! Sending an email through SES v2: multipart, plain text and accessible HTML, both written from
//! one `Letter` so that they always say the same. What each email says is its sender's (the
//! exports' and the digest's own modules).

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::domain::Email;

/// What an email says, part by part, before it is written as text and as HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A paragraph.
    Text(String),
    /// Facts, each a name and its value ("Rows: 12"): a definition list in HTML.
    Facts(Vec<(String, String)>),
    /// A list of items.
    Items(Vec<String>),
    /// A link to follow, whose words say where it goes (what a screen reader announces).
    Link { words: String, href: String },
}

/// An email written out: its subject, its plain text and its HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Letter {
    pub fn compose(&self) -> Composed {
        Composed { subject: self.subject.clone(), text: self.text(), html: self.html() }
    }

    /// Parts a blank line apart, lines ending in CRLF as email wants.
    fn text(&self) -> String {
        let blocks: Vec<String> = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => format!("{text}\r\n"),
                Part::Facts(facts) => facts.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect(),
                Part::Items(items) => items.iter().map(|item| format!("- {item}\r\n")).collect(),
                Part::Link { words, href } => format!("{words}: {href}\r\n"),
            })
            .collect();
        blocks.join("\r\n")
    }

    /// A whole document with its language and title, a heading, and semantic parts only: no
    /// layout tables, images or colours that a reader or a mail client would have to undo.
    fn html(&self) -> String {
        let mut html = format!(
            "<!DOCTYPE html>\r\n<html lang=\"en\">\r\n<head>\r\n<meta charset=\"utf-8\">\r\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\r\n\
             <title>{subject}</title>\r\n</head>\r\n<body>\r\n<h1>{subject}</h1>\r\n",
            subject = escape(&self.subject)
        );
        for part in &self.parts {
            match part {
                Part::Text(text) => html.push_str(&format!("<p>{}</p>\r\n", escape(text))),
                Part::Facts(facts) => {
                    html.push_str("<dl>\r\n");
                    for (name, value) in facts {
                        html.push_str(&format!("<dt>{}</dt><dd>{}</dd>\r\n", escape(name), escape(value)));
                    }
                    html.push_str("</dl>\r\n");
                }
                Part::Items(items) => {
                    html.push_str("<ul>\r\n");
                    for item in items {
                        html.push_str(&format!("<li>{}</li>\r\n", escape(item)));
                    }
                    html.push_str("</ul>\r\n");
                }
                Part::Link { words, href } => {
                    html.push_str(&format!("<p><a href=\"{}\">{}</a></p>\r\n", escape(href), escape(words)));
                }
            }
        }
        html.push_str("</body>\r\n</html>\r\n");
        html
    }
}

/// Text as HTML shows it: names and client data are never markup.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

pub async fn send(
    ses: &aws_sdk_sesv2::Client,
    sender: &str,
    to: &Email,
    message: &Composed,
) -> Result<(), aws_sdk_sesv2::Error> {
    let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
    // Both bodies: SES sends them as multipart/alternative, and each client shows what it can.
    let body = Body::builder().text(content(&message.text)?).html(content(&message.html)?).build();
    let email = Message::builder().subject(content(&message.subject)?).body(body).build();
    ses.send_email()
        .from_email_address(sender)
        .destination(Destination::builder().to_addresses(to.as_str()).build())
        .content(EmailContent::builder().simple(email).build())
        .send()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> Letter {
        Letter {
            subject: "Your export is ready".into(),
            parts: vec![
                Part::Text("Zoë <O'Brien> & co".into()),
                Part::Facts(vec![("Rows".into(), "12".into()), ("Plan year".into(), "2026".into())]),
                Part::Items(vec!["one".into(), "two".into()]),
                Part::Link {
                    words: "Download the export".into(),
                    href: "https://app.example.com/exports/e1?a=1&b=2".into(),
                },
            ],
        }
    }

    #[test]
    fn the_text_says_every_part_a_blank_line_apart() {
        assert_eq!(
            letter().compose().text,
            "Zoë <O'Brien> & co\r\n\r\nRows: 12\r\nPlan year: 2026\r\n\r\n- one\r\n- two\r\n\r\n\
             Download the export: https://app.example.com/exports/e1?a=1&b=2\r\n"
        );
    }

    #[test]
    fn the_html_is_a_titled_english_document_whose_text_is_never_markup() {
        let html = letter().compose().html;
        assert!(html.starts_with("<!DOCTYPE html>\r\n<html lang=\"en\">"), "{html}");
        assert!(html.contains("<title>Your export is ready</title>"));
        assert!(html.contains("<h1>Your export is ready</h1>"));
        assert!(html.contains("<p>Zoë &lt;O&#39;Brien&gt; &amp; co</p>"), "{html}");
        assert!(html.contains("<dt>Rows</dt><dd>12</dd>"));
        assert!(html.contains("<li>two</li>"));
        assert!(html.contains("<a href=\"https://app.example.com/exports/e1?a=1&amp;b=2\">Download the export</a>"));
        assert!(!html.contains("<img") && !html.contains("<table") && !html.contains("style="));
    }
}
