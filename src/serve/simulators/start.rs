//! The start-a-simulator form: what it offers (the reference actors that serve, by pack, with
//! their options and faults), and its fields to [`SimulatorOptions`]: the knobs of
//! `cdex-harness simulate ACTOR`.

use crate::cli::PackArgs;
use crate::simulator::{PackSettings, SimulatorOptions};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The form's fields, as submitted and as shown again with a refusal.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StartForm {
    pub pack: String,
    pub actor: String,
    pub options: Vec<String>,
    /// `ACTOR:FAULT`, as the run form names them; those of another actor are left out.
    pub faults: Vec<String>,
    pub token: String,
    pub no_auth: bool,
    pub answer_attachments: bool,
}

impl StartForm {
    /// An `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> StartForm {
        let mut f = StartForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.trim().to_string();
            match k.as_ref() {
                "pack" => f.pack = v,
                "actor" => f.actor = v,
                "option" if !v.is_empty() => f.options.push(v),
                "fault" if !v.is_empty() => f.faults.push(v),
                "token" => f.token = v,
                "no_auth" => f.no_auth = !v.is_empty(),
                "answer_attachments" => f.answer_attachments = !v.is_empty(),
                _ => {}
            }
        }
        f
    }

    /// The pack named, or the default one.
    pub fn pack_name(&self) -> &str {
        if self.pack.is_empty() {
            crate::cli::DEFAULT_PACK
        } else {
            &self.pack
        }
    }

    /// The simulator these fields describe, listening on `host` (port 0: a free one). Errors
    /// name the field at fault.
    pub fn to_options(
        &self,
        known_packs: &[String],
        host: IpAddr,
    ) -> Result<SimulatorOptions, String> {
        let pack = self.pack_name();
        if !known_packs.iter().any(|p| p == pack) {
            return Err(format!(
                "pack `{pack}`: not one of the shipped packs ({})",
                known_packs.join(", ")
            ));
        }
        if self.actor.is_empty() {
            return Err("actor: choose the reference actor to simulate".into());
        }
        let args = PackArgs {
            pack: Some(pack.to_string()),
            ..PackArgs::default()
        };
        let (_, loaded) = crate::cli::try_load(&args, Vec::new())?;
        let mut opts = SimulatorOptions::new(&self.actor, PackSettings::from(&loaded));
        opts.listen = SocketAddr::new(host, 0);
        opts.options = self.options.clone();
        let prefix = format!("{}:", self.actor);
        opts.faults = self
            .faults
            .iter()
            .filter_map(|f| f.strip_prefix(&prefix).map(str::to_string))
            .collect();
        opts.token = (!self.token.is_empty()).then(|| self.token.clone());
        opts.no_auth = self.no_auth;
        if opts.token.is_some() && opts.no_auth {
            return Err("token: give a token or choose no authentication, not both".into());
        }
        opts.answer_attachments = self.answer_attachments;
        Ok(opts)
    }
}

/// Where a simulator listens: loopback when the console does; else the address the console
/// listens on (a LAN address), or, when the console listens on every address, the one the
/// browser reached it at (the `Host` header, when it is an address) so that the URL given to
/// a partner works.
pub fn listen_host(console: SocketAddr, host_header: Option<&str>) -> IpAddr {
    let ip = console.ip();
    if ip.is_loopback() {
        return ip;
    }
    if !ip.is_unspecified() {
        return ip;
    }
    host_header
        .and_then(host_ip)
        .filter(|h| !h.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The URL to give a partner, and a note when it had to be guessed: a simulator listening on
/// every address (`0.0.0.0`) is named as the browser named the console (its `Host`).
pub fn partner_url(base: &str, host_header: Option<&str>) -> (String, Vec<String>) {
    let Some((scheme, rest)) = base.split_once("://") else {
        return (base.to_string(), Vec::new());
    };
    let (addr, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Ok(at) = addr.parse::<SocketAddr>() else {
        return (base.to_string(), Vec::new());
    };
    if !at.ip().is_unspecified() {
        return (base.to_string(), Vec::new());
    }
    let name = host_header
        .map(|h| match h.strip_prefix('[') {
            Some(rest) => format!("[{}]", rest.split(']').next().unwrap_or("")),
            None => h.rsplit_once(':').map(|(n, _)| n).unwrap_or(h).to_string(),
        })
        .filter(|n| !n.is_empty() && n != "[]");
    match name {
        Some(n) => (
            format!("{scheme}://{n}:{}{path}", at.port()),
            vec![format!(
                "it listens on every address of this machine (port {}); the URL names the machine as your browser does",
                at.port()
            )],
        ),
        None => (
            base.to_string(),
            vec![
                "it listens on every address of this machine: give partners this machine's address"
                    .into(),
            ],
        ),
    }
}

/// The address of a `Host` header, when it names one (`10.0.0.5:8080`, `[fe80::1]:80`).
fn host_ip(host: &str) -> Option<IpAddr> {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_options_of_simulate() {
        let f = StartForm::parse(
            b"pack=cdex-2019&actor=information-recipient&fault=information-recipient%3Aaccept-invalid&fault=information-server%3Ano-read&token=&option=",
        );
        assert_eq!(f.actor, "information-recipient");
        let packs = vec!["cdex-2019".to_string()];
        let o = f.to_options(&packs, "127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(o.faults, ["accept-invalid"]);
        assert_eq!(o.listen.port(), 0);
        assert!(o.listen.ip().is_loopback());
        assert!(o.token.is_none() && !o.no_auth);
        assert!(!o.pack.vars.is_empty(), "the pack's variables");

        let e =
            StartForm::parse(b"pack=nope&actor=x").to_options(&packs, "127.0.0.1".parse().unwrap());
        assert!(e.err().unwrap().contains("pack `nope`"));
        let e =
            StartForm::parse(b"pack=cdex-2019").to_options(&packs, "127.0.0.1".parse().unwrap());
        assert!(e.err().unwrap().starts_with("actor:"));
    }

    #[test]
    fn simulators_listen_where_the_console_does() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            listen_host(at("127.0.0.1:8080"), Some("10.0.0.5:8080")).to_string(),
            "127.0.0.1"
        );
        assert_eq!(
            listen_host(at("10.0.0.5:8080"), Some("example.org")).to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            listen_host(at("0.0.0.0:8080"), Some("10.0.0.5:8080")).to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            listen_host(at("[::]:8080"), Some("[fe80::1]:8080")).to_string(),
            "fe80::1"
        );
        assert_eq!(
            listen_host(at("0.0.0.0:8080"), Some("laptop.local:8080")).to_string(),
            "0.0.0.0"
        );
    }

    #[test]
    fn a_partner_gets_an_address_that_reaches_the_simulator() {
        assert_eq!(
            partner_url("http://127.0.0.1:4000", Some("x:1")).0,
            "http://127.0.0.1:4000"
        );
        let (url, notes) = partner_url("http://0.0.0.0:4000", Some("laptop.local:8080"));
        assert_eq!(url, "http://laptop.local:4000");
        assert_eq!(notes.len(), 1);
        assert_eq!(
            partner_url("https://[::]:4000/fhir", Some("[fe80::1]:8080")).0,
            "https://[fe80::1]:4000/fhir"
        );
        assert_eq!(
            partner_url("http://0.0.0.0:4000", None).0,
            "http://0.0.0.0:4000"
        );
    }
}
