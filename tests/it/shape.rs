//! The shape limits of the codebase: no source file over 600 lines and no
//! function over 80, not counting tests (an in-file `#[cfg(test)]` module, a
//! file included as one, and this binary's `tests/it/`), except the
//! declarative tables of [`LONG_FN_ALLOWED`]. `tests/support` and
//! `tests/bench` are sources like any other; `target/` and `vendor/` are
//! not looked at.
//!
//! The scanner blanks comments and string and char literals first, so a `fn`
//! or a brace inside them is never counted.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Functions allowed over [`MAX_FN_LINES`]: (crate folder, function, why).
const LONG_FN_ALLOWED: &[(&str, &str, &str)] = &[
    (
        "functions/admin-api/",
        "operations",
        "the admin API's OpenAPI operation table: one declarative entry per route",
    ),
    (
        "functions/portal-api/",
        "operations",
        "the portal API's OpenAPI operation table: one declarative entry per route",
    ),
];

#[test]
fn no_source_file_is_over_600_lines_and_no_function_over_80() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let test_files = out_of_line_test_modules(&root, &files);
    let mut violations = Vec::new();
    let mut allowance_used = vec![false; LONG_FN_ALLOWED.len()];
    for rel in files.iter().filter(|f| !test_files.contains(*f)) {
        let text = std::fs::read_to_string(root.join(rel)).expect("read source");
        let shape = Shape::of(&text);
        if shape.lines > MAX_FILE_LINES {
            violations.push((shape.lines, format!("file {rel}: {} lines", shape.lines)));
        }
        for f in shape.functions.iter().filter(|f| f.lines > MAX_FN_LINES) {
            let allowed = LONG_FN_ALLOWED
                .iter()
                .position(|(dir, name, _)| rel.starts_with(dir) && f.name == *name);
            match allowed {
                Some(i) => allowance_used[i] = true,
                None => violations.push((
                    f.lines,
                    format!("fn {rel}:{} {}: {} lines", f.line, f.name, f.lines),
                )),
            }
        }
    }
    for ((dir, name, _), used) in LONG_FN_ALLOWED.iter().zip(allowance_used) {
        if !used {
            violations.push((
                0,
                format!("allowance {dir} {name}: nothing over the limit any more; remove it"),
            ));
        }
    }
    assert!(
        files.len() > 50,
        "found only {} sources under {}",
        files.len(),
        root.display()
    );
    violations.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let list: Vec<String> = violations
        .into_iter()
        .map(|(_, v)| format!("  {v}"))
        .collect();
    assert!(
        list.is_empty(),
        "{} over the limits (files {MAX_FILE_LINES} lines without in-file tests, \
         functions {MAX_FN_LINES} lines):\n{}",
        list.len(),
        list.join("\n")
    );
}

#[test]
fn the_scanner_ignores_fn_and_braces_in_strings_chars_and_comments() {
    let body = "    x += 1;\n".repeat(90);
    let src = format!(
        "// fn commented() {{\n\
         /* fn blocked() {{ /* nested }} */ {{ */\n\
         const S: &str = \"fn quoted() {{ \\\" {{\";\n\
         const R: &str = r#\"fn raw() {{ \"# ;\n\
         const B: &[u8] = br\"fn raw_bytes() {{\";\n\
         const C: char = '{{';\n\
         const D: char = '\\'';\n\
         fn short<'a>(x: &'a str) -> &'a str {{ let _ = '}}'; x }}\n\
         fn long() {{\n{body}}}\n\
         fn after() {{\n}}\n"
    );
    let shape = Shape::of(&src);
    let found: Vec<(&str, usize)> = shape
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.lines))
        .collect();
    assert_eq!(found, [("short", 1), ("long", 92), ("after", 2)]);
}

#[test]
fn the_scanner_does_not_count_cfg_test_modules_or_body_less_fns() {
    let long = format!("fn long() {{\n{}}}\n", "    x += 1;\n".repeat(90));
    let src = format!(
        "trait T {{\n    fn declared(&self);\n    fn ptr(f: fn(u8) -> u8);\n}}\n\
         fn kept() {{}}\n\
         #[cfg(test)]\n#[allow(dead_code)]\nmod tests {{\n    #[test]\n    {long}}}\n\
         #[cfg(test)]\nmod other;\n"
    );
    let shape = Shape::of(&src);
    let names: Vec<&str> = shape.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(shape.lines, 5 + 2);
    assert_eq!(shape.test_modules, ["other"]);
}

/// The `.rs` files under `dir`, relative to `root` with `/`: not in hidden
/// folders, `target/`, `vendor/`, `node_modules/` or `tests/it/`.
fn sources(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = relative(root, &path);
        if path.is_dir() {
            let skip = name.starts_with('.')
                || ["target", "vendor", "node_modules"].contains(&name.as_str())
                || rel == "tests/it";
            if !skip {
                sources(root, &path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(rel);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).expect("under the root");
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Files included as `#[cfg(test)] mod name;`: test code like an in-file module.
fn out_of_line_test_modules(root: &Path, files: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rel in files {
        let text = std::fs::read_to_string(root.join(rel)).expect("read source");
        let path = Path::new(rel);
        let stem = path.file_stem().unwrap().to_string_lossy();
        let parent = path.parent().unwrap_or(Path::new(""));
        let dir = if ["lib", "main", "mod"].contains(&stem.as_ref()) {
            parent.to_path_buf()
        } else {
            parent.join(stem.as_ref())
        };
        for name in Shape::of(&text).test_modules {
            for candidate in [
                dir.join(format!("{name}.rs")),
                dir.join(&name).join("mod.rs"),
            ] {
                out.insert(relative(Path::new(""), &candidate));
            }
        }
    }
    out
}

struct Function {
    name: String,
    /// 1-based line of its `fn`.
    line: usize,
    /// From the line of its `fn` to the line of its closing brace.
    lines: usize,
}

struct Shape {
    /// Lines, without in-file `#[cfg(test)]` modules.
    lines: usize,
    /// Functions with a body, outside `#[cfg(test)]` modules, in order.
    functions: Vec<Function>,
    /// Names of out-of-line `#[cfg(test)] mod name;`.
    test_modules: Vec<String>,
}

impl Shape {
    fn of(src: &str) -> Self {
        let code: Vec<char> = code_only(src).chars().collect();
        let mut line_of = Vec::with_capacity(code.len());
        let mut line = 0;
        for &c in &code {
            line_of.push(line);
            if c == '\n' {
                line += 1;
            }
        }
        let total_lines = src.lines().count();
        let mut test_ranges = Vec::new(); // char ranges of in-file test modules
        let mut test_modules = Vec::new();
        let mut excluded_lines = 0;
        let attribute: Vec<char> = "#[cfg(test)]".chars().collect();
        let mut i = 0;
        while i + attribute.len() <= code.len() {
            if code[i..i + attribute.len()] != attribute[..] {
                i += 1;
                continue;
            }
            match cfg_test_module(&code, i + attribute.len()) {
                Some(TestModule::Inline { end }) => {
                    test_ranges.push(i..=end);
                    excluded_lines += line_of[end] - line_of[i] + 1;
                    i = end + 1;
                }
                Some(TestModule::OutOfLine { name }) => {
                    test_modules.push(name);
                    i += attribute.len();
                }
                None => i += attribute.len(),
            }
        }
        let functions = functions(&code)
            .into_iter()
            .filter(|(start, _, _)| !test_ranges.iter().any(|r| r.contains(start)))
            .map(|(start, end, name)| Function {
                name,
                line: line_of[start] + 1,
                lines: line_of[end] - line_of[start] + 1,
            })
            .collect();
        Shape {
            lines: total_lines - excluded_lines,
            functions,
            test_modules,
        }
    }
}

enum TestModule {
    /// `mod name { … }` ending at the char index of its `}`.
    Inline { end: usize },
    /// `mod name;`
    OutOfLine { name: String },
}

/// What follows a `#[cfg(test)]` at `i`, when it is a module: more
/// attributes, an optional visibility, `mod name`, then `{` or `;`.
fn cfg_test_module(code: &[char], mut i: usize) -> Option<TestModule> {
    loop {
        i = skip_space(code, i);
        if code.get(i) == Some(&'#') && code.get(i + 1) == Some(&'[') {
            i = matching(code, i + 1, '[', ']')? + 1;
        } else {
            break;
        }
    }
    let (mut word, mut next) = ident(code, i)?;
    if word == "pub" {
        i = skip_space(code, next);
        if code.get(i) == Some(&'(') {
            i = matching(code, i, '(', ')')? + 1;
        }
        (word, next) = ident(code, skip_space(code, i))?;
    }
    if word != "mod" {
        return None;
    }
    let (name, after) = ident(code, skip_space(code, next))?;
    let at = skip_space(code, after);
    match code.get(at)? {
        '{' => Some(TestModule::Inline {
            end: matching(code, at, '{', '}')?,
        }),
        ';' => Some(TestModule::OutOfLine { name }),
        _ => None,
    }
}

/// Every `fn name … { … }` of the blanked code: (index of `fn`, index of
/// its closing `}`, name). Declarations without a body and `fn(…)` pointer
/// types are not functions.
fn functions(code: &[char]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for i in 0..code.len().saturating_sub(1) {
        let keyword = code[i] == 'f'
            && code[i + 1] == 'n'
            && (i == 0 || !is_ident(code[i - 1]))
            && !code.get(i + 2).copied().is_some_and(is_ident);
        if !keyword {
            continue;
        }
        let Some((name, mut j)) = ident(code, skip_space(code, i + 2)) else {
            continue;
        };
        let mut depth = 0i32; // of ( and [ in the signature
        let body = loop {
            match code.get(j) {
                None => break None,
                Some(';') if depth == 0 => break None,
                Some('(' | '[') => depth += 1,
                Some(')' | ']') => depth -= 1,
                Some('{') if depth == 0 => break Some(j),
                _ => {}
            }
            j += 1;
        };
        if let Some(end) = body.and_then(|open| matching(code, open, '{', '}')) {
            out.push((i, end, name));
        }
    }
    out
}

/// The index of the `close` matching the `open` at `at`.
fn matching(code: &[char], at: usize, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &c) in code.iter().enumerate().skip(at) {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

fn skip_space(code: &[char], mut i: usize) -> usize {
    while code.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// The identifier starting at `i` and the index after it.
fn ident(code: &[char], i: usize) -> Option<(String, usize)> {
    let first = *code.get(i)?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let end = (i..code.len())
        .find(|&k| !is_ident(code[k]))
        .unwrap_or(code.len());
    Some((code[i..end].iter().collect(), end))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `src` with every comment and every string, raw string and char literal
/// replaced by spaces (newlines kept, so lines stay where they were).
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let end = literal_or_comment_end(&c, i);
        match end {
            Some(end) => {
                for &ch in &c[i..end] {
                    out.push(if ch == '\n' { '\n' } else { ' ' });
                }
                i = end;
            }
            None => {
                out.push(c[i]);
                i += 1;
            }
        }
    }
    out
}

/// When a comment or a literal starts at `i`: the index just after it.
fn literal_or_comment_end(c: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied();
    let find_from = |from: usize, stop: &dyn Fn(usize) -> bool| {
        (from..c.len()).find(|&k| stop(k)).unwrap_or(c.len())
    };
    match (c[i], at(i + 1)) {
        ('/', Some('/')) => Some(find_from(i, &|k| c[k] == '\n')),
        ('/', Some('*')) => {
            let mut depth = 0;
            let mut k = i;
            while k < c.len() {
                if c[k] == '/' && at(k + 1) == Some('*') {
                    depth += 1;
                    k += 2;
                } else if c[k] == '*' && at(k + 1) == Some('/') {
                    depth -= 1;
                    k += 2;
                    if depth == 0 {
                        return Some(k);
                    }
                } else {
                    k += 1;
                }
            }
            Some(c.len())
        }
        ('"', _) => {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            Some((k + 1).min(c.len()))
        }
        ('\'', Some('\\')) => Some(find_from(i + 3, &|k| c[k] == '\'') + 1),
        ('\'', Some(_)) if at(i + 2) == Some('\'') => Some(i + 3),
        ('r', _) if starts_raw_string(c, i) => {
            let hashes = (i + 1..c.len()).take_while(|&k| c[k] == '#').count();
            let body = i + 1 + hashes + 1;
            let closes = |k: usize| c[k] == '"' && (1..=hashes).all(|h| at(k + h) == Some('#'));
            Some((find_from(body, &closes) + 1 + hashes).min(c.len()))
        }
        _ => None,
    }
}

/// `r"`, `r#"`, `br"`, `cr#"` … at `i` (the `r`), not the end of a longer
/// identifier, nor a raw identifier such as `r#type`.
fn starts_raw_string(c: &[char], i: usize) -> bool {
    let prefix_ok = match i.checked_sub(1).map(|p| c[p]) {
        None => true,
        Some('b' | 'c') => i < 2 || !is_ident(c[i - 2]),
        Some(p) => !is_ident(p),
    };
    let quote = (i + 1..c.len()).find(|&k| c[k] != '#');
    prefix_ok && quote.is_some_and(|k| c[k] == '"')
}
