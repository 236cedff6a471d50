//! `ian-host new agent|harness|invariant|goal DIR`: ready projects.
//!
//! The templates live in `host/node/templates/` and are compiled into the
//! binary, together with the guest SDK's own sources: a new project gets a
//! copy of `ian-guest-sdk` in `vendor/ian-guest-sdk` that matches this
//! `ian-host` exactly, so it builds anywhere with nothing but the crate
//! registry (for wit-bindgen) and the `wasm32-unknown-unknown` target.
//!
//! Agents also come in Python, JavaScript and C (`--lang`): the same
//! momentum policy, IAN's WIT, a build with a pinned toolchain and native
//! tests; they need a goal with `agents = "wasi"` (the C agent, which
//! imports nothing, runs on any goal).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::common::{CommandError, file_err};

/// What to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A contributor's agent (a momentum strategy for the trading goal).
    Agent,
    /// A goal harness (a forecasting episode scored by error).
    Harness,
    /// A goal invariant (probes the agent before evaluation).
    Invariant,
    /// A whole goal: harness, invariant, baseline agent and goal file.
    Goal,
}

/// An agent template's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Rust with ian-guest-sdk (vendored); `cargo build --release`.
    Rust,
    /// Python, built by componentize-py (CPython in wasm); `./build.sh`.
    Python,
    /// JavaScript, built by jco with the QuickJS backend; `npm run build`.
    Js,
    /// C, with wit-bindgen's C bindings, clang and wasi-libc; `./build.sh`.
    C,
}

/// componentize-py version the Python template pins.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// jco version the JavaScript template pins.
pub const JCO_VERSION: &str = "1.35.0";
/// wit-bindgen CLI version the C template pins (the SDK's wit-bindgen).
pub const WIT_BINDGEN_CLI_VERSION: &str = "0.63.0";

/// What `new` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct NewReport {
    /// The kind of project.
    pub kind: Kind,
    /// Its language.
    pub lang: Lang,
    /// Its package (or goal) name.
    pub name: String,
    /// Where.
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<String>,
    /// The next commands, as the project's README gives them.
    pub next: Vec<String>,
}

macro_rules! template {
    ($path:literal) => {
        ($path, include_str!(concat!("../../templates/", $path)))
    };
}

const AGENT_PYTHON: [(&str, &str); 6] = [
    template!("agent-python/app.py"),
    template!("agent-python/test_app.py"),
    template!("agent-python/componentize-py.sh"),
    template!("agent-python/build.sh"),
    template!("agent-python/test.sh"),
    template!("agent-python/README.md"),
];
const AGENT_JS: [(&str, &str); 5] = [
    template!("agent-js/agent.js"),
    template!("agent-js/momentum.js"),
    template!("agent-js/test.mjs"),
    template!("agent-js/package.json"),
    template!("agent-js/README.md"),
];
const AGENT_C: [(&str, &str); 7] = [
    template!("agent-c/momentum.h"),
    template!("agent-c/momentum.c"),
    template!("agent-c/agent.c"),
    template!("agent-c/test.c"),
    template!("agent-c/build.sh"),
    template!("agent-c/test.sh"),
    template!("agent-c/README.md"),
];

const CONFIG: &str = include_str!("../../templates/common/config.toml");
const PROFILE: &str = include_str!("../../templates/common/profile.toml");

const AGENT: [(&str, &str); 3] = [
    template!("agent/Cargo.toml"),
    template!("agent/src/lib.rs"),
    template!("agent/README.md"),
];
const HARNESS: [(&str, &str); 3] = [
    template!("harness/Cargo.toml"),
    template!("harness/src/lib.rs"),
    template!("harness/README.md"),
];
const INVARIANT: [(&str, &str); 3] = [
    template!("invariant/Cargo.toml"),
    template!("invariant/src/lib.rs"),
    template!("invariant/README.md"),
];
const GOAL: [(&str, &str); 5] = [
    template!("goal/Cargo.toml"),
    template!("goal/goal.toml"),
    template!("goal/README.md"),
    template!("goal/baseline/Cargo.toml"),
    template!("goal/baseline/src/lib.rs"),
];

/// The guest SDK's sources, vendored into every new project.
const SDK_FILES: [(&str, &str); 7] = [
    (
        "src/lib.rs",
        include_str!("../../../../guest-sdk/src/lib.rs"),
    ),
    (
        "src/params.rs",
        include_str!("../../../../guest-sdk/src/params.rs"),
    ),
    (
        "src/rng.rs",
        include_str!("../../../../guest-sdk/src/rng.rs"),
    ),
    (
        "src/types.rs",
        include_str!("../../../../guest-sdk/src/types.rs"),
    ),
    (
        "wit/ian-eval.wit",
        include_str!("../../../../guest-sdk/wit/ian-eval.wit"),
    ),
    (
        "wit/deps/diagnostics/panic.wit",
        include_str!("../../../../guest-sdk/wit/deps/diagnostics/panic.wit"),
    ),
    ("README.md", include_str!("../../../../guest-sdk/README.md")),
];

/// The vendored SDK's manifest. Its dependency lines are the workspace's
/// own (a unit test holds them equal), so a new project builds the same
/// bindings as the example guests.
const SDK_WIT_BINDGEN: &str = r#"wit-bindgen = { version = "=0.63.0", default-features = false, features = ["macros", "realloc"] }"#;
const SDK_THISERROR: &str = r#"thiserror = "2""#;

fn sdk_manifest() -> String {
    format!(
        "[package]\nname = \"ian-guest-sdk\"\nversion = \"{}\"\nedition = \"2024\"\nlicense = \"Apache-2.0\"\n\
         description = \"Write IAN agents, goal harnesses and goal invariants in Rust (vendored by ian-host new)\"\n\n\
         [dependencies]\n{SDK_WIT_BINDGEN}\n{SDK_THISERROR}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// A cargo package name from a free-form one: lowercase ASCII letters,
/// digits, `-` and `_`, starting with a letter.
pub fn package_name(raw: &str) -> Result<String, CommandError> {
    let name: String = raw
        .trim()
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            _ => '-',
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.len() > 48 {
        return Err(CommandError::Usage(format!(
            "`{raw}` cannot name a project: use --name with 1 to 48 letters, digits, `-` or `_`, starting with a letter"
        )));
    }
    Ok(name)
}

/// This machine's target triple, for the `cargo test-native` alias.
fn host_triple() -> String {
    std::process::Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .unwrap_or_else(|| {
            format!(
                "{}-unknown-{}-gnu",
                std::env::consts::ARCH,
                std::env::consts::OS
            )
        })
}

struct Writer {
    root: PathBuf,
    files: Vec<String>,
}

impl Writer {
    fn put(&mut self, rel: &str, text: &str) -> Result<(), CommandError> {
        self.put_bytes(rel, text.as_bytes())
    }

    fn put_bytes(&mut self, rel: &str, bytes: &[u8]) -> Result<(), CommandError> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(file_err(parent))?;
        }
        std::fs::write(&path, bytes).map_err(file_err(&path))?;
        self.files.push(rel.to_string());
        Ok(())
    }

    /// Marks a written script executable (the README runs `./build.sh`).
    fn make_executable(&self, rel: &str) -> Result<(), CommandError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = self.root.join(rel);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(file_err(&path))?;
        }
        #[cfg(not(unix))]
        let _ = rel;
        Ok(())
    }
}

fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

fn sdk_dep(sdk: Option<&Path>, depth: usize) -> String {
    match sdk {
        Some(p) => format!(
            "ian-guest-sdk = {{ path = {:?} }}",
            p.to_string_lossy().replace('\\', "/")
        ),
        None => format!(
            "ian-guest-sdk = {{ version = \"{}\", path = \"{}vendor/ian-guest-sdk\" }}",
            env!("CARGO_PKG_VERSION"),
            "../".repeat(depth)
        ),
    }
}

/// Writes an agent template in another language than Rust: its files, the
/// WIT it builds against, and a `.gitignore` for what its build leaves.
fn create_foreign_agent(lang: Lang, w: &mut Writer, name: &str) -> Result<(), CommandError> {
    let vars = [
        ("name", name),
        ("componentize_py_version", COMPONENTIZE_PY_VERSION),
        ("jco_version", JCO_VERSION),
        ("wit_bindgen_version", WIT_BINDGEN_CLI_VERSION),
    ];
    let (set, strip, ignore): (&[(&str, &str)], &str, &str) = match lang {
        Lang::Python => (
            &AGENT_PYTHON,
            "agent-python/",
            ".venv/\n.bindings/\n__pycache__/\nagent.wasm\n*.ianpack\n",
        ),
        Lang::Js => (
            &AGENT_JS,
            "agent-js/",
            "node_modules/\nagent.wasm\n*.ianpack\n",
        ),
        Lang::C => (
            &AGENT_C,
            "agent-c/",
            "build/\n.tools/\nagent.wasm\n*.ianpack\n",
        ),
        Lang::Rust => unreachable!("the Rust agent is a cargo project"),
    };
    for (path, text) in set {
        let rel = path.strip_prefix(strip).unwrap_or(path);
        w.put(rel, &fill(text, &vars))?;
        if rel.ends_with(".sh") {
            w.make_executable(rel)?;
        }
    }
    for (rel, text) in SDK_FILES.iter().filter(|(p, _)| p.starts_with("wit/")) {
        w.put(rel, text)?;
    }
    if lang == Lang::C {
        let files = ian_componentize::c_bindings(ian_componentize::World::AgentPack)
            .map_err(|e| CommandError::Usage(format!("generating the C bindings: {e}")))?;
        for (file, bytes) in files {
            w.put_bytes(&format!("bindings/{file}"), &bytes)?;
        }
    }
    w.put(".gitignore", ignore)
}

/// Next commands for an agent in `lang` (its README's first commands).
fn foreign_next_steps(lang: Lang) -> Vec<String> {
    let pack = |meta: &str| {
        format!("ian-host pack agent.wasm --params lookback=10 {meta} --out agent.ianpack")
    };
    match lang {
        Lang::Python => vec![
            "./test.sh".into(),
            "./build.sh".into(),
            pack(&format!(
                "--meta lang=python --meta toolchain=componentize-py/{COMPONENTIZE_PY_VERSION}"
            )),
        ],
        Lang::Js => vec![
            "npm install".into(),
            "npm test".into(),
            "npm run build".into(),
            pack(&format!(
                "--meta lang=javascript --meta toolchain=jco-quickjs/{JCO_VERSION}"
            )),
        ],
        Lang::C => vec![
            "./test.sh".into(),
            "./build.sh".into(),
            pack(&format!(
                "--meta lang=c --meta toolchain=wit-bindgen-c/{WIT_BINDGEN_CLI_VERSION}+clang"
            )),
        ],
        Lang::Rust => Vec::new(),
    }
}

/// Next commands for each kind (the README's "Next steps").
fn next_steps(kind: Kind, name: &str) -> Vec<String> {
    let krate = name.replace('-', "_");
    match kind {
        Kind::Agent => vec![
            "cargo test-native".into(),
            "ian-host dev --goal-id trading-v1 --node URL".into(),
            "ian-host dev --goal-id trading-v1 --node URL --watch --params lookback=20".into(),
        ],
        Kind::Harness | Kind::Invariant => vec![
            "cargo test-native".into(),
            "cargo build --release".into(),
            "ian-host goal check goal.toml --baseline AGENT.wasm".into(),
        ],
        Kind::Goal => vec![
            "cargo build --release && cargo test-native".into(),
            format!(
                "ian-host goal check goal.toml --baseline target/wasm32-unknown-unknown/release/{krate}_baseline.wasm"
            ),
            "ian-host goal publish goal.toml --node URL".into(),
        ],
    }
}

/// Writes a new project of `kind` into `dir`, which must not exist or be
/// empty. `sdk` points the project at an SDK checkout instead of a vendored
/// copy.
pub fn create(
    kind: Kind,
    dir: &Path,
    name: Option<&str>,
    sdk: Option<&Path>,
) -> Result<NewReport, CommandError> {
    create_in(kind, Lang::Rust, dir, name, sdk)
}

/// As [`create`], for an agent in `lang`; other kinds are Rust only.
pub fn create_in(
    kind: Kind,
    lang: Lang,
    dir: &Path,
    name: Option<&str>,
    sdk: Option<&Path>,
) -> Result<NewReport, CommandError> {
    if lang != Lang::Rust && kind != Kind::Agent {
        return Err(CommandError::Usage(
            "--lang applies to agents only: harnesses, invariants and goals are Rust projects"
                .into(),
        ));
    }
    if lang != Lang::Rust && sdk.is_some() {
        return Err(CommandError::Usage(
            "--sdk applies to Rust projects only".into(),
        ));
    }
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(file_err(dir))?;
        if entries.next().is_some() {
            return Err(CommandError::Usage(format!(
                "{} already exists and is not empty; `ian-host new` only writes into a new or empty directory",
                dir.display()
            )));
        }
    }
    let raw = match name {
        Some(n) => n.to_string(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "my-project".into()),
    };
    let name = package_name(&raw)?;
    if lang != Lang::Rust {
        let mut w = Writer {
            root: dir.to_path_buf(),
            files: Vec::new(),
        };
        create_foreign_agent(lang, &mut w, &name)?;
        return Ok(NewReport {
            kind,
            lang,
            next: foreign_next_steps(lang),
            name,
            dir: dir.to_path_buf(),
            files: w.files,
        });
    }
    let sdk = match sdk {
        None => None,
        Some(p) => Some(std::fs::canonicalize(p).map_err(|e| CommandError::File {
            path: p.to_path_buf(),
            message: format!("{e} (--sdk must be a directory holding ian-guest-sdk's Cargo.toml)"),
        })?),
    };
    let host = host_triple();
    let mut w = Writer {
        root: dir.to_path_buf(),
        files: Vec::new(),
    };
    let standalone =
        "\n# A project of its own, even when created inside another workspace.\n[workspace]\n";
    let root_vars = |pkg: &str, ws: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("name", pkg.to_string()),
            ("crate", pkg.replace('-', "_")),
            ("sdk", sdk_dep(sdk.as_deref(), 0)),
            ("workspace", ws.to_string()),
        ]
    };
    let write_set = |w: &mut Writer,
                     set: &[(&str, &str)],
                     strip: &str,
                     prefix: &str,
                     vars: &[(&str, String)]|
     -> Result<(), CommandError> {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (path, text) in set {
            let rel = format!("{prefix}{}", path.strip_prefix(strip).unwrap_or(path));
            let mut body = fill(text, &vars);
            if rel.ends_with("Cargo.toml") && prefix.is_empty() {
                body.push_str(PROFILE);
            }
            w.put(&rel, &body)?;
        }
        Ok(())
    };
    match kind {
        Kind::Agent => write_set(&mut w, &AGENT, "agent/", "", &root_vars(&name, ""))?,
        Kind::Harness => write_set(
            &mut w,
            &HARNESS,
            "harness/",
            "",
            &root_vars(&name, standalone),
        )?,
        Kind::Invariant => write_set(
            &mut w,
            &INVARIANT,
            "invariant/",
            "",
            &root_vars(&name, standalone),
        )?,
        Kind::Goal => {
            let id = format!("{name}-v1");
            let krate = name.replace('-', "_");
            let top = vec![
                ("name", name.clone()),
                ("crate", krate.clone()),
                ("id", id.clone()),
            ];
            write_set(&mut w, &GOAL[..3], "goal/", "", &top)?;
            for (member, set, strip) in [
                ("harness", &HARNESS[..2], "harness/"),
                ("invariant", &INVARIANT[..2], "invariant/"),
                ("baseline", &GOAL[3..], "goal/baseline/"),
            ] {
                let vars = vec![
                    ("name", format!("{name}-{member}")),
                    ("crate", format!("{krate}_{member}")),
                    ("sdk", sdk_dep(sdk.as_deref(), 1)),
                    ("workspace", String::new()),
                ];
                write_set(&mut w, set, strip, &format!("{member}/"), &vars)?;
            }
        }
    }
    w.put(".cargo/config.toml", &fill(CONFIG, &[("host", &host)]))?;
    w.put(".gitignore", "target/\n")?;
    if sdk.is_none() {
        w.put("vendor/ian-guest-sdk/Cargo.toml", &sdk_manifest())?;
        for (rel, text) in SDK_FILES {
            w.put(&format!("vendor/ian-guest-sdk/{rel}"), text)?;
        }
    }
    Ok(NewReport {
        kind,
        lang,
        next: next_steps(kind, &name),
        name,
        dir: dir.to_path_buf(),
        files: w.files,
    })
}

/// Human text for `new`.
pub fn render(r: &NewReport) -> String {
    let kind = match (r.kind, r.lang) {
        (Kind::Agent, Lang::Rust) => "agent",
        (Kind::Agent, Lang::Python) => "Python agent",
        (Kind::Agent, Lang::Js) => "JavaScript agent",
        (Kind::Agent, Lang::C) => "C agent",
        (Kind::Harness, _) => "harness",
        (Kind::Invariant, _) => "invariant",
        (Kind::Goal, _) => "goal",
    };
    let mut o = format!(
        "created {kind} project `{}` in {} ({} files)\nnext, in {}:",
        r.name,
        r.dir.display(),
        r.files.len(),
        r.dir.display()
    );
    for n in &r.next {
        o.push_str("\n  ");
        o.push_str(n);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_depends_on_what_the_workspace_pins() {
        let ws = include_str!("../../../../Cargo.toml");
        for line in [SDK_WIT_BINDGEN, SDK_THISERROR] {
            assert!(
                ws.lines().any(|l| l.trim() == line),
                "workspace Cargo.toml has no line `{line}`: update the vendored SDK manifest"
            );
        }
    }

    /// Every file under `dir`, as paths relative to `root`.
    fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files_under(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn the_vendored_sdk_has_every_source_and_wit_file_of_the_sdk() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-sdk"));
        let mut on_disk = Vec::new();
        files_under(root, &root.join("src"), &mut on_disk);
        files_under(root, &root.join("wit"), &mut on_disk);
        on_disk.sort();
        let mut vendored: Vec<String> = SDK_FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("src/") || p.starts_with("wit/"))
            .collect();
        vendored.sort();
        assert_eq!(on_disk, vendored);
    }

    #[test]
    fn package_names_are_cleaned_or_refused() {
        assert_eq!(package_name("My Agent").unwrap(), "my-agent");
        assert_eq!(package_name("maze_12x12").unwrap(), "maze_12x12");
        assert!(package_name("42").is_err());
        assert!(package_name("").is_err());
    }

    #[test]
    fn every_placeholder_is_filled() {
        let dir = std::env::temp_dir().join(format!("ian-new-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for kind in [Kind::Agent, Kind::Harness, Kind::Invariant, Kind::Goal] {
            let d = dir.join(format!("{kind:?}").to_lowercase());
            let r = create(kind, &d, None, None).unwrap();
            for f in &r.files {
                let text = std::fs::read_to_string(d.join(f)).unwrap();
                assert!(!text.contains("{{"), "{f} of {kind:?} keeps a placeholder");
            }
        }
        for lang in [Lang::Python, Lang::Js, Lang::C] {
            let d = dir.join(format!("{lang:?}").to_lowercase());
            let r = create_in(Kind::Agent, lang, &d, None, None).unwrap();
            for f in &r.files {
                // The C bindings' object file is binary: read what text it has.
                let text = String::from_utf8_lossy(&std::fs::read(d.join(f)).unwrap()).into_owned();
                assert!(
                    !text.contains("{{"),
                    "{f} of the {lang:?} agent keeps a placeholder"
                );
            }
        }
        let err = create(Kind::Agent, &dir.join("agent"), None, None).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
