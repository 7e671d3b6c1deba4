//! The HTTP edge every API function shares: who is calling (`caller`), how errors look
//! (`problem`), what a request may be (`params`), who may reach what (`access`), and the router as
//! it faces the world (`edge`).
//!
//! In AWS, API Gateway's JWT authorizer verifies the token and `lambda_http` puts the request
//! context in the request's extensions. Locally the dev server verifies the token itself and puts
//! exactly the same context there, so handlers cannot tell the two apart.

pub mod access;
pub mod caller;
pub mod edge;
pub mod params;
pub mod problem;

pub use access::{reachable_agency, visible_entry};
pub use edge::{edge, no_such_route};
pub use params::{RawQuery, application_key, plan_year_param};
pub use problem::{MAX_BODY_BYTES, Problem};
