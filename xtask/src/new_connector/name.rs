//! A new connector's name and the forms the templates need: the kind as
//! config files write it (`acme-hosts`), the package (`inlet-acme-hosts`),
//! the library (`inlet_acme_hosts`), a type prefix (`AcmeHosts`), a display
//! title (`Acme Hosts`) and an environment variable prefix (`ACME_HOSTS`).

use std::fmt;

/// Names a connector may not take: the workspace's own crates, whose
/// packages are `inlet-<name>` too or whose folders sit beside `connectors/`.
pub const RESERVED: [&str; 8] = [
    "core",
    "store",
    "engine",
    "http",
    "testkit",
    "runner",
    "connectors",
    "xtask",
];

/// Longest name accepted; type names and paths built from it stay readable.
pub const MAX_LEN: usize = 40;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    NotKebabCase { name: String },
    TooLong { name: String },
    Reserved { name: String },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotKebabCase { name } => write!(
                f,
                "`{name}` is not kebab-case: use lowercase ASCII letters and digits in words \
                 joined by single hyphens, starting with a letter (e.g. `acme-hosts`)"
            ),
            Self::TooLong { name } => write!(
                f,
                "`{name}` is longer than {MAX_LEN} characters; pick a shorter name"
            ),
            Self::Reserved { name } => write!(
                f,
                "`{name}` is reserved for the workspace's own crates ({}); pick another name",
                RESERVED.join(", ")
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// A valid connector name and its derived forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorName {
    kind: String,
}

impl ConnectorName {
    /// Checks `name`: kebab-case (`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`), at most
    /// [`MAX_LEN`] characters, not [`RESERVED`].
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let owned = || name.to_owned();
        if !is_kebab_case(name) {
            return Err(NameError::NotKebabCase { name: owned() });
        }
        if name.len() > MAX_LEN {
            return Err(NameError::TooLong { name: owned() });
        }
        if RESERVED.contains(&name) {
            return Err(NameError::Reserved { name: owned() });
        }
        Ok(Self { kind: owned() })
    }

    /// The kind config files name (`connector = "acme-hosts"`) and the
    /// folder under `connectors/`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The Cargo package: `inlet-acme-hosts`.
    pub fn package(&self) -> String {
        format!("inlet-{}", self.kind)
    }

    /// The library as Rust code names it: `inlet_acme_hosts`.
    pub fn crate_name(&self) -> String {
        self.package().replace('-', "_")
    }

    /// The prefix of the crate's type names: `AcmeHosts`.
    pub fn type_prefix(&self) -> String {
        self.words().map(capitalized).collect()
    }

    /// The title people read: `Acme Hosts`.
    pub fn title(&self) -> String {
        self.words().map(capitalized).collect::<Vec<_>>().join(" ")
    }

    /// The prefix of the crate's environment variables: `ACME_HOSTS`.
    pub fn env_prefix(&self) -> String {
        self.kind.replace('-', "_").to_ascii_uppercase()
    }

    fn words(&self) -> impl Iterator<Item = &str> {
        self.kind.split('-')
    }
}

/// `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`, written out.
fn is_kebab_case(name: &str) -> bool {
    let starts_with_letter = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let words_are_lowercase = name.split('-').all(|word| {
        !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    starts_with_letter && words_are_lowercase
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_names_are_accepted_and_the_rest_refused() {
        let accepted = ["acme", "acme-hosts", "a1", "acme-2", "x-9-y", "qualys-vmdr"];
        for name in accepted {
            assert!(ConnectorName::parse(name).is_ok(), "{name}");
        }
        let refused = [
            "",
            "Acme",
            "acme_hosts",
            "acmeHosts",
            "-acme",
            "acme-",
            "acme--hosts",
            "1acme",
            "acme hosts",
            "acme.hosts",
            "acmé",
            "acme/hosts",
        ];
        for name in refused {
            let error = ConnectorName::parse(name).expect_err(name);
            assert_eq!(error, NameError::NotKebabCase { name: name.into() });
            assert!(error.to_string().contains("is not kebab-case"), "{error}");
        }
    }

    #[test]
    fn reserved_and_overlong_names_are_refused() {
        for name in RESERVED {
            let error = ConnectorName::parse(name).expect_err(name);
            assert_eq!(error, NameError::Reserved { name: name.into() });
        }
        let error = ConnectorName::parse("store").expect_err("reserved");
        assert!(
            error.to_string().starts_with("`store` is reserved"),
            "{error}"
        );
        let long = "a".repeat(MAX_LEN + 1);
        assert!(ConnectorName::parse(&long[..MAX_LEN]).is_ok());
        let error = ConnectorName::parse(&long).expect_err("too long");
        assert_eq!(error, NameError::TooLong { name: long });
    }

    #[test]
    fn every_derived_form_follows_the_kind() {
        let cases = [
            (
                "acme-hosts",
                "inlet-acme-hosts",
                "inlet_acme_hosts",
                "AcmeHosts",
                "Acme Hosts",
                "ACME_HOSTS",
            ),
            ("acme", "inlet-acme", "inlet_acme", "Acme", "Acme", "ACME"),
            (
                "x-9-y",
                "inlet-x-9-y",
                "inlet_x_9_y",
                "X9Y",
                "X 9 Y",
                "X_9_Y",
            ),
        ];
        for (kind, package, crate_name, type_prefix, title, env) in cases {
            let name = ConnectorName::parse(kind).expect(kind);
            assert_eq!(name.kind(), kind);
            assert_eq!(name.package(), package);
            assert_eq!(name.crate_name(), crate_name);
            assert_eq!(name.type_prefix(), type_prefix);
            assert_eq!(name.title(), title);
            assert_eq!(name.env_prefix(), env);
        }
    }
}
