//! `weft new`: writes a stand-alone Rust guest project of one [`Kind`].
//!
//! The project builds outside this repository with nothing but cargo and the
//! `wasm32-wasip2` target: it depends on `wit-bindgen` directly (the SDK in
//! `guests/sdk` is not published) and carries its own copy of the contract in
//! `wit/weft.wit`. That copy is the one this binary was built with, embedded
//! below from `wit/weft.wit`, so a project always matches the host that made it;
//! the templates themselves hold no WIT (`guests/templates/KIND/`).
//!
//! Templates are embedded with `include_str!` and their placeholders replaced:
//! `{{name}}` by the module name, `{{crate_name}}` by the name cargo gives the
//! component (`-` turned into `_`), and the file `NAME.toml` is written as
//! `<name>.toml`. Nothing is ever overwritten: the project folder must not exist.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The contract, as this host speaks it.
const WIT: &str = include_str!("../../../../wit/weft.wit");

/// What kind of module to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// World `processor`: turns each event into zero or more events.
    Processor,
    /// World `ingress`: brings events in (timer, webhook, folder triggers).
    Ingress,
    /// World `egress`: delivers a subscription's events.
    Egress,
    /// A processor in Python (componentize-py).
    PythonProcessor,
    /// A processor in JavaScript (componentize-js).
    JsProcessor,
}

/// One template file: its path in the project and its text.
type Template = (&'static str, &'static str);

macro_rules! templates {
    ($kind:literal) => {
        &[
            (
                "Cargo.toml",
                include_str!(concat!(
                    "../../../../guests/templates/",
                    $kind,
                    "/Cargo.toml"
                )),
            ),
            (
                "src/lib.rs",
                include_str!(concat!(
                    "../../../../guests/templates/",
                    $kind,
                    "/src/lib.rs"
                )),
            ),
            (
                "NAME.toml",
                include_str!(concat!(
                    "../../../../guests/templates/",
                    $kind,
                    "/NAME.toml"
                )),
            ),
            (
                "README.md",
                include_str!(concat!(
                    "../../../../guests/templates/",
                    $kind,
                    "/README.md"
                )),
            ),
            (
                ".gitignore",
                include_str!(concat!(
                    "../../../../guests/templates/",
                    $kind,
                    "/.gitignore"
                )),
            ),
        ]
    };
}

impl Kind {
    fn templates(self) -> &'static [Template] {
        match self {
            Kind::Processor => templates!("processor"),
            Kind::Ingress => templates!("ingress"),
            Kind::Egress => templates!("egress"),
            Kind::PythonProcessor => &[
                (
                    "app.py",
                    include_str!("../../../../guests/templates/python-processor/app.py"),
                ),
                (
                    "build.sh",
                    include_str!("../../../../guests/templates/python-processor/build.sh"),
                ),
                (
                    "NAME.toml",
                    include_str!("../../../../guests/templates/python-processor/NAME.toml"),
                ),
                (
                    "README.md",
                    include_str!("../../../../guests/templates/python-processor/README.md"),
                ),
                (
                    ".gitignore",
                    include_str!("../../../../guests/templates/python-processor/.gitignore"),
                ),
            ],
            Kind::JsProcessor => &[
                (
                    "app.js",
                    include_str!("../../../../guests/templates/js-processor/app.js"),
                ),
                (
                    "build.sh",
                    include_str!("../../../../guests/templates/js-processor/build.sh"),
                ),
                (
                    "package.json",
                    include_str!("../../../../guests/templates/js-processor/package.json"),
                ),
                (
                    "NAME.toml",
                    include_str!("../../../../guests/templates/js-processor/NAME.toml"),
                ),
                (
                    "README.md",
                    include_str!("../../../../guests/templates/js-processor/README.md"),
                ),
                (
                    ".gitignore",
                    include_str!("../../../../guests/templates/js-processor/.gitignore"),
                ),
            ],
        }
    }
}

#[derive(clap::Args)]
#[command(after_help = "Example:\n  weft new processor enrich --lang python && cd enrich")]
pub struct Args {
    kind: NewKind,
    /// The module name (also the crate name): lowercase letters, digits, `-`.
    name: String,
    /// Where to create the project folder NAME.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The guest language; Python and JavaScript have processor templates.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
}

/// The languages `weft new` has templates for.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

/// The kinds of module `weft new` starts, one per world of the WIT contract.
#[derive(Clone, Copy, clap::ValueEnum)]
enum NewKind {
    Processor,
    Ingress,
    Egress,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let kind = match (a.lang, a.kind) {
        (Lang::Rust, NewKind::Processor) => Kind::Processor,
        (Lang::Rust, NewKind::Ingress) => Kind::Ingress,
        (Lang::Rust, NewKind::Egress) => Kind::Egress,
        (Lang::Python, NewKind::Processor) => Kind::PythonProcessor,
        (Lang::Js, NewKind::Processor) => Kind::JsProcessor,
        (_, _) => bail!(
            "Python and JavaScript templates exist for processors only; \
             start a connector in Rust (--lang rust), or see guests/js/http-post \
             for a JavaScript egress connector"
        ),
    };
    let name = &a.name;
    let project = scaffold(kind, name, &a.dir)?;
    println!("created {}", project.display());
    match a.lang {
        Lang::Rust => {
            println!(
                "  build:  cd {} && cargo build --release --target wasm32-wasip2",
                project.display()
            );
            println!(
                "  check:  weft check target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            );
        }
        Lang::Python | Lang::Js => {
            println!("  build:  cd {} && ./build.sh", project.display());
            println!("  check:  weft check {name}.wasm");
        }
    }
    println!("  deploy: copy {name}.wasm and {name}.toml into the modules folder");
    Ok(())
}

/// Writes a new project for a module `name` of `kind` into the folder
/// `into/<name>` and returns that folder.
///
/// `name` must be a module name that is also a Cargo package name (see
/// [`check_name`]). Fails, writing nothing, if the folder already exists; if
/// writing fails half-way, the half-written folder is removed.
pub fn scaffold(kind: Kind, name: &str, into: &Path) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    std::fs::create_dir_all(into).with_context(|| format!("cannot create {}", into.display()))?;
    let dir = into.join(name);
    // `create_dir` fails on an existing folder: the check and the claim are one step.
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; `weft new` never overwrites: pick another name or folder",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    if let Err(e) = write_files(kind, name, &dir) {
        // Only this call created the folder, so removing it loses nothing.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(dir)
}

fn write_files(kind: Kind, name: &str, dir: &Path) -> anyhow::Result<()> {
    let crate_name = name.replace('-', "_");
    let files = kind
        .templates()
        .iter()
        .map(|(path, text)| {
            let path = path.replace("NAME", name);
            let text = text
                .replace("{{name}}", name)
                .replace("{{crate_name}}", &crate_name);
            (path, text)
        })
        .chain([("wit/weft.wit".to_owned(), WIT.to_owned())]);
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        if path.extension().is_some_and(|e| e == "sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    Ok(())
}

/// Words cargo refuses as package names: Rust's keywords and its built-in crates.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "abstract", "alloc", "as", "async", "await", "become", "box", "break", "const", "continue",
    "core", "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen",
    "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv",
    "proc_macro", "pub", "ref", "return", "self", "static", "std", "struct", "super", "test",
    "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where",
    "while", "yield",
];

/// Checks that `name` is a module name (the host's rule, which the modules folder
/// applies to `NAME.wasm`: 1 to 64 letters, digits, `-` and `_`, starting with a
/// letter or digit) that also builds as a Cargo package without warnings: lower
/// case, starting with a letter, not a Rust keyword.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let module = weft_runtime::folder::module_name(Path::new(&format!("{name}.wasm")));
    if !matches!(module.as_deref(), Ok(stem) if stem == name) {
        bail!(
            "`{name}` is not a valid module name: use 1 to 64 lowercase letters, digits, \
             `-` and `_`, starting with a letter"
        );
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.contains(char::is_uppercase) {
        bail!(
            "`{name}` cannot name a Rust project: use lowercase letters, digits, `-` and `_`, \
             starting with a letter"
        );
    }
    if RESERVED.contains(&name) {
        bail!("`{name}` is reserved in Rust: pick another name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const KINDS: [(Kind, &str); 3] = [
        (Kind::Processor, "processor"),
        (Kind::Ingress, "ingress"),
        (Kind::Egress, "egress"),
    ];

    #[test]
    fn each_kind_writes_a_project_with_its_world_and_no_placeholders() {
        let tmp = tempfile::tempdir().unwrap();
        for (kind, world) in KINDS {
            let name = format!("my-{world}");
            let dir = scaffold(kind, &name, tmp.path()).unwrap();
            assert_eq!(dir, tmp.path().join(&name));
            for file in [
                "Cargo.toml",
                "src/lib.rs",
                "README.md",
                ".gitignore",
                "wit/weft.wit",
            ] {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(
                    !text.contains("{{name}}") && !text.contains("{{crate_name}}"),
                    "{file}"
                );
            }
            let manifest = std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap();
            assert!(!manifest.contains("{{"), "{manifest}");
            let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(cargo.contains(&format!("name = \"{name}\"")));
            assert!(cargo.contains(&format!("{}.wasm", name.replace('-', "_"))));
            let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
            assert!(lib.contains(&format!("world: \"{world}\"")), "{world}");
            assert_eq!(
                std::fs::read_to_string(dir.join("wit/weft.wit")).unwrap(),
                WIT
            );
            assert!(WIT.contains(&format!("world {world} {{")));
        }
    }

    #[test]
    fn an_existing_folder_is_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp.path().join("taken");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("Cargo.toml"), "mine").unwrap();
        let err = scaffold(Kind::Egress, "taken", tmp.path()).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(
            std::fs::read_to_string(mine.join("Cargo.toml")).unwrap(),
            "mine"
        );
        assert!(!mine.join("src").exists());
    }

    #[test]
    fn the_parent_folder_is_created_when_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = scaffold(Kind::Processor, "p1", &tmp.path().join("a/b")).unwrap();
        assert!(dir.join("p1.toml").is_file());
    }

    #[test]
    fn names_follow_the_module_rule_and_cargo() {
        for good in ["tagger", "my-sink", "a_b-9", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-lead",
            "9lives",
            "Tagger",
            "has space",
            "dot.ted",
            "../up",
            "a/b",
            &"x".repeat(65),
            "fn",
            "test",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let tmp = tempfile::tempdir().unwrap();
        assert!(scaffold(Kind::Processor, "../escape", tmp.path()).is_err());
        assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
    }
}
