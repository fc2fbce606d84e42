//! The environment's configuration: the TOML file, the flags that override it, and the validation that
//! turns both into [`Settings`] before any AWS call is made.
//!
//! Key names follow the variables of the classic CFCR-on-AWS Terraform template, so an operator's old
//! `terraform.tfvars` translates line by line.
//!
//! One file per stage, each using only those before it: `values` (the raw keys, file and flags),
//! `defaults` (what unset keys become), `check` (single values), `network` and `bootstrap` (groups of
//! keys checked together), `settings` (the result); `error` is what any of them reports.

mod bootstrap;
mod check;
mod defaults;
mod error;
mod network;
mod settings;
mod values;

pub use bootstrap::BootstrapSettings;
pub use check::validate_prefix;
pub use defaults::CANONICAL_OWNER_ID;
pub use error::{ValidationError, ValidationErrors};
pub use network::{DIRECTOR_HOST, DirectorNetwork};
pub use settings::{AmiSource, DirectorCredentials, Settings};
pub use values::ConfigValues;
