//! NetworkPolicy semantics: which pods a policy selects, which directions it isolates,
//! and what its rules allow, as the Kubernetes API defines them.

use super::object::Object;
use super::selector::Selector;
use serde_json::Value;
use std::net::IpAddr;

/// A traffic direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Traffic into the selected pods.
    Ingress,
    /// Traffic out of the selected pods.
    Egress,
}

impl Direction {
    /// `Ingress` or `Egress`, as in `policyTypes`.
    pub fn type_name(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }

    /// `ingress` or `egress`, the rules field.
    pub fn field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// `from` or `to`, the peers field of a rule.
    pub fn peers_field(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

/// A CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::/0` or a bare address (a host route).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether the block contains an address.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(*ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(*ip) & mask
            }
            _ => false,
        }
    }

    /// Whether this is `0.0.0.0/0` or `::/0`.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

/// One peer of a rule.
#[derive(Debug, Clone)]
pub enum Peer {
    /// Pods chosen by selectors: a namespace selector (None = the policy's namespace) and a
    /// pod selector (None = all pods of the selected namespaces).
    Pods {
        /// `namespaceSelector`.
        namespaces: Option<Selector>,
        /// `podSelector`.
        pods: Option<Selector>,
    },
    /// An IP block with exceptions.
    Block {
        /// `cidr`.
        cidr: Option<Cidr>,
        /// `except`.
        except: Vec<Cidr>,
    },
}

/// One port entry of a rule.
#[derive(Debug, Clone)]
pub struct Port {
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: String,
    /// Number range (inclusive); None = every port; a named port is `Named`.
    pub range: PortRange,
}

/// Ports a port entry allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRange {
    /// Every port of the protocol.
    All,
    /// A number or a range with `endPort`.
    Numbers(u16, u16),
    /// A named container port: matches pods only, never IP destinations.
    Named(String),
}

/// One ingress or egress rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Index in the rules list.
    pub index: usize,
    /// Peers; empty = every peer.
    pub peers: Vec<Peer>,
    /// Ports; empty = every port.
    pub ports: Vec<Port>,
}

impl Rule {
    /// Whether the rule allows a protocol and port number (to a non-pod destination when
    /// `to_pod` is false: named ports never match those).
    pub fn allows_port(&self, protocol: &str, port: u16, to_pod: bool) -> bool {
        self.ports.is_empty()
            || self.ports.iter().any(|p| {
                p.protocol.eq_ignore_ascii_case(protocol)
                    && match &p.range {
                        PortRange::All => true,
                        PortRange::Numbers(lo, hi) => (*lo..=*hi).contains(&port),
                        PortRange::Named(_) => to_pod,
                    }
            })
    }

    /// Whether the rule allows an IP address outside the cluster's pods (an empty peer list
    /// allows every address; selector peers never match such addresses).
    pub fn allows_ip(&self, ip: &IpAddr) -> bool {
        self.peers.is_empty()
            || self.peers.iter().any(|p| match p {
                Peer::Block {
                    cidr: Some(c),
                    except,
                } => c.contains(ip) && !except.iter().any(|e| e.contains(ip)),
                _ => false,
            })
    }

    /// Whether the rule allows everything: no peers and no ports, or an IP block of the
    /// whole address space without exceptions and no port limit.
    pub fn allows_all(&self) -> bool {
        self.ports.is_empty()
            && (self.peers.is_empty()
                || self.peers.iter().any(|p| match p {
                    Peer::Block {
                        cidr: Some(c),
                        except,
                    } => c.is_everything() && except.is_empty(),
                    Peer::Pods {
                        namespaces: Some(ns),
                        pods,
                    } => ns.is_everything() && pods.as_ref().is_none_or(Selector::is_everything),
                    _ => false,
                }))
    }
}

/// A parsed NetworkPolicy.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// The object.
    pub object: &'a Object,
    /// `spec.podSelector`.
    pub selector: Selector,
    /// Directions it isolates (after the API's defaulting of `policyTypes`).
    pub types: Vec<Direction>,
    /// `spec.ingress`.
    pub ingress: Vec<Rule>,
    /// `spec.egress`.
    pub egress: Vec<Rule>,
}

impl<'a> Policy<'a> {
    /// Parses a NetworkPolicy object. Malformed parts are read as narrowly as possible.
    pub fn parse(object: &'a Object) -> Policy<'a> {
        let spec = object.raw.get("spec");
        let ingress = rules(spec.and_then(|s| s.get("ingress")), Direction::Ingress);
        let egress = rules(spec.and_then(|s| s.get("egress")), Direction::Egress);
        let types = match spec
            .and_then(|s| s.get("policyTypes"))
            .and_then(Value::as_array)
        {
            Some(t) => {
                let mut v: Vec<Direction> = t
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| match s {
                        "Ingress" => Some(Direction::Ingress),
                        "Egress" => Some(Direction::Egress),
                        _ => None,
                    })
                    .collect();
                v.sort();
                v.dedup();
                v
            }
            None => {
                // Defaulting: Ingress always, Egress when egress rules exist.
                let mut v = vec![Direction::Ingress];
                if !egress.is_empty() {
                    v.push(Direction::Egress);
                }
                v
            }
        };
        Policy {
            object,
            selector: Selector::parse(spec.and_then(|s| s.get("podSelector"))),
            types,
            ingress,
            egress,
        }
    }

    /// Whether it isolates the direction for the pods it selects.
    pub fn isolates(&self, dir: Direction) -> bool {
        self.types.contains(&dir)
    }

    /// The rules of a direction (only meaningful when it isolates that direction).
    pub fn rules(&self, dir: Direction) -> &[Rule] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// A default deny: selects every pod, isolates the direction and allows nothing.
    pub fn is_default_deny(&self, dir: Direction) -> bool {
        self.selector.is_everything() && self.isolates(dir) && self.rules(dir).is_empty()
    }
}

fn rules(v: Option<&Value>, dir: Direction) -> Vec<Rule> {
    let Some(list) = v.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .enumerate()
        .map(|(index, r)| Rule {
            index,
            peers: r
                .get(dir.peers_field())
                .and_then(Value::as_array)
                .map(|ps| ps.iter().map(peer).collect())
                .unwrap_or_default(),
            ports: r
                .get("ports")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().map(port).collect())
                .unwrap_or_default(),
        })
        .collect()
}

fn peer(v: &Value) -> Peer {
    if let Some(block) = v.get("ipBlock") {
        return Peer::Block {
            cidr: block
                .get("cidr")
                .and_then(Value::as_str)
                .and_then(Cidr::parse),
            except: block
                .get("except")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .filter_map(Cidr::parse)
                        .collect()
                })
                .unwrap_or_default(),
        };
    }
    Peer::Pods {
        namespaces: v.get("namespaceSelector").map(|s| Selector::parse(Some(s))),
        pods: v.get("podSelector").map(|s| Selector::parse(Some(s))),
    }
}

fn port(v: &Value) -> Port {
    let protocol = v
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_string();
    let range = match v.get("port") {
        None | Some(Value::Null) => PortRange::All,
        Some(Value::String(s)) => match s.parse::<u16>() {
            Ok(n) => PortRange::Numbers(n, end_port(v).unwrap_or(n)),
            Err(_) => PortRange::Named(s.clone()),
        },
        Some(n) => match n.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(n) => PortRange::Numbers(n, end_port(v).unwrap_or(n).max(n)),
            None => PortRange::Named(n.to_string()),
        },
    };
    Port { protocol, range }
}

fn end_port(v: &Value) -> Option<u16> {
    v.get("endPort")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;
    use serde_json::json;

    fn policy(spec: Value) -> Object {
        Object::from_value(
            json!({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
                "metadata":{"name":"p","namespace":"a"},"spec":spec}),
            Origin::Cluster,
        )
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("169.254.0.0/16").unwrap();
        assert!(c.contains(&ip("169.254.169.254")));
        assert!(!c.contains(&ip("169.255.0.1")));
        assert!(!c.contains(&ip("fd00:ec2::254")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(&ip("1.2.3.4")));
        assert!(
            Cidr::parse("fd00:ec2::/32")
                .unwrap()
                .contains(&ip("fd00:ec2::254"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn policy_types_default_from_rules() {
        let o = policy(
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
        );
        let p = Policy::parse(&o);
        assert_eq!(p.types, vec![Direction::Ingress, Direction::Egress]);
        assert!(p.is_default_deny(Direction::Ingress));
        assert!(!p.is_default_deny(Direction::Egress));
    }

    #[test]
    fn metadata_is_reachable_through_open_blocks_only() {
        let o = policy(
            json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]},
                {"to": [{"namespaceSelector": {}}]},
                {"ports": [{"port": 80, "protocol": "TCP"}]}
            ]}),
        );
        let p = Policy::parse(&o);
        let md = ip("169.254.169.254");
        let allows: Vec<bool> = p
            .egress
            .iter()
            .map(|r| r.allows_ip(&md) && r.allows_port("TCP", 80, false))
            .collect();
        assert_eq!(allows, vec![false, false, false, true]);
    }
}
