//! Placeholder rendering: `{{key}}` in a template becomes the key's value.
//! A key is ASCII letters and underscores; an unknown key is an error rather
//! than text left in the crate. Braces around anything else (`{{ x }}`,
//! Rust's `{{` in format strings) are copied as they are.

use std::collections::BTreeMap;

use super::name::ConnectorName;

/// Placeholder values by key.
pub type Values = BTreeMap<&'static str, String>;

/// A template used a key that has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template `{template}` uses the unknown placeholder `{{{{{key}}}}}`")]
pub struct UnknownPlaceholder {
    pub template: String,
    pub key: String,
}

/// The values every template can use, for `name`.
pub fn values(name: &ConnectorName) -> Values {
    Values::from([
        ("name", name.kind().to_owned()),
        ("package", name.package()),
        ("crate", name.crate_name()),
        ("Title", name.type_prefix()),
        ("title", name.title()),
        ("ENV", name.env_prefix()),
    ])
}

/// `text` with every `{{key}}` replaced by its value; `template` names the
/// text in errors.
pub fn render(template: &str, text: &str, values: &Values) -> Result<String, UnknownPlaceholder> {
    let mut rendered = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        rendered.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match placeholder_key(after) {
            Some(key) => {
                let value = values.get(key).ok_or_else(|| UnknownPlaceholder {
                    template: template.to_owned(),
                    key: key.to_owned(),
                })?;
                rendered.push_str(value);
                rest = &after[key.len() + 2..];
            }
            None => {
                // Only one brace is copied: the next may open a placeholder.
                rendered.push('{');
                rest = &rest[start + 1..];
            }
        }
    }
    rendered.push_str(rest);
    Ok(rendered)
}

/// The key of a placeholder whose opening braces were just read: letters
/// and underscores up to `}}`.
fn placeholder_key(after_braces: &str) -> Option<&str> {
    let end = after_braces.find("}}")?;
    let key = &after_braces[..end];
    let is_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    is_key.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Values {
        values(&ConnectorName::parse("acme-hosts").expect("a valid name"))
    }

    #[test]
    fn every_placeholder_is_replaced() {
        let cases = [
            ("{{name}}", "acme-hosts"),
            ("package {{package}}", "package inlet-acme-hosts"),
            ("use {{crate}}::KIND;", "use inlet_acme_hosts::KIND;"),
            ("struct {{Title}}Config;", "struct AcmeHostsConfig;"),
            ("# {{title}}", "# Acme Hosts"),
            ("{{ENV}}_API_TOKEN", "ACME_HOSTS_API_TOKEN"),
            ("{{Title}}{{Title}}", "AcmeHostsAcmeHosts"),
            ("no placeholder", "no placeholder"),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(
                render("t", text, &acme()).as_deref(),
                Ok(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn braces_that_are_not_placeholders_stay() {
        let cases = [
            "format!(\"{{}}\")",
            "{{ name }}",
            "{{name",
            "{{na-me}}",
            "{{{{",
            "{ env = \"VAR\" }",
            "}}{{",
        ];
        for text in cases {
            assert_eq!(render("t", text, &acme()).as_deref(), Ok(text), "{text}");
        }
        assert_eq!(
            render("t", "{{{name}}}", &acme()).as_deref(),
            Ok("{acme-hosts}")
        );
    }

    #[test]
    fn an_unknown_placeholder_names_itself_and_its_template() {
        let error = render("src/lib.rs.tmpl", "a {{nmae}} b", &acme()).expect_err("unknown");
        assert_eq!(
            error,
            UnknownPlaceholder {
                template: "src/lib.rs.tmpl".into(),
                key: "nmae".into(),
            }
        );
        assert_eq!(
            error.to_string(),
            "template `src/lib.rs.tmpl` uses the unknown placeholder `{{nmae}}`"
        );
    }
}
