//! Configuration files (TOML): parsing with errors that name the file and the place.
//!
//! The shipped defaults live in the repository's `config/` folder and are compiled in, so every
//! binary works without a file; a file given on the command line replaces them.

use serde::de::DeserializeOwned;

/// A configuration file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// Where the configuration came from (a path, or `shipped defaults`).
    pub origin: String,
    /// What is wrong, with the line and column when TOML parsing failed.
    pub message: String,
}

impl ConfigError {
    /// An error about `origin`.
    pub fn new(origin: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses a TOML document, unknown keys included in the errors (every config type denies them).
pub fn parse_toml<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::new(origin, e.to_string().trim_end()))
}

/// Reads and parses a configuration file; `None` gives the shipped defaults.
pub trait ConfigFile: Sized {
    /// The shipped defaults' text.
    const SHIPPED: &'static str;

    /// Parses and validates a document.
    fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError>;

    /// The shipped defaults.
    fn shipped() -> Self {
        Self::from_toml(Self::SHIPPED, "shipped defaults")
            .expect("the shipped configuration is valid (checked by the tests)")
    }

    /// The file's configuration, or the shipped defaults without a file.
    fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        match path {
            None => Ok(Self::shipped()),
            Some(p) => {
                let origin = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::new(&origin, format!("cannot read: {e}")))?;
                Self::from_toml(&text, &origin)
            }
        }
    }
}
