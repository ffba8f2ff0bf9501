//! Rendering: what each front end shows of a [`Judgement`](crate::engine::Judgement). Pure: no I/O,
//! no decisions — the engine decided; these modules only put it in a form.
//!
//! - [`enforcement`]: the validating webhook's denial and warnings, by mode (also what `check` and
//!   `audit` report as `allowed` and `message`);
//! - [`annotations`]: the mutating webhook's annotations and their JSON patch;
//! - [`evaluation`]: a Secret's judgement as `check` and `audit` report it (the `-o json` contract);
//! - [`table`]: aligned, optionally coloured terminal tables;
//! - [`policyreport`]: `wgpolicyk8s.io/v1alpha2` PolicyReports, and the names they carry.

pub mod annotations;
pub mod enforcement;
pub mod evaluation;
pub mod policyreport;
pub mod table;
pub mod uses;
