//! cdex-harness: a conformance test harness and simulator for the HL7 Da Vinci CDex guide.
//!
//! Data flows one way: [`scenario`] (the YAML pack, checked) -> [`runner`] (plays the
//! counterpart, over [`http`] as a client and [`mock`] as a server, with the [`actors`]) ->
//! [`results`] (plain data) -> [`report`] (HTML, JUnit, JSON, console). [`catalog`] holds the
//! requirements every assertion traces to; [`fhir`] holds FHIR knowledge; [`simulator`] runs
//! a reference actor on its own for partners, checking what they send live; [`cli`] is the
//! command line; [`serve`] the web console over the same runner, reports and simulators.

pub mod actors;
pub mod catalog;
pub mod cli;
pub mod fhir;
pub mod http;
pub mod mock;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod serve;
pub mod shards;
pub mod simulator;
pub mod suggest;
pub mod testscript;
