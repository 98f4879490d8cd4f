//! PLACEHOLDER (replaced at merge by the l-core branch's version).

pub const SUBSCRIPTION_PREFIX: &str = "subscription/";

pub fn queue_of_module(name: &str) -> String {
    name.to_owned()
}

pub fn queue_of_subscription(name: &str) -> String {
    format!("{SUBSCRIPTION_PREFIX}{name}")
}

pub enum QueueOwner {
    Module(String),
    Subscription(String),
}

impl QueueOwner {
    pub fn parse(queue: &str) -> Self {
        match queue.strip_prefix(SUBSCRIPTION_PREFIX) {
            Some(s) => Self::Subscription(s.to_owned()),
            None => Self::Module(queue.to_owned()),
        }
    }
}

pub fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
