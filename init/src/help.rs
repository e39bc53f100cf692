//! `sesame help [topic]`: the manual (`docs/manual.md`, built into the binary) or one of
//! its sections. Topics are the section headings (`## …` and `### …`) in lower case with
//! dashes, and the command names of the `### sesame <command>` sections.

/// The whole manual.
pub const MANUAL: &str = include_str!("../../docs/manual.md");

/// One section of the manual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    /// The heading without its `#`s.
    pub title: &'a str,
    /// 2 for `##`, 3 for `###`.
    pub level: usize,
    /// The heading line and everything up to the next heading of the same or a higher
    /// level.
    pub text: &'a str,
}

impl Section<'_> {
    /// The name `sesame help <topic>` knows it by.
    pub fn topic(&self) -> String {
        let title = self.title.strip_prefix("sesame ").unwrap_or(self.title);
        let slug: String = title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        slug.split('-')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }
}

/// The `##` and `###` sections of a Markdown text (pure; fenced code is not a heading).
pub fn sections(text: &str) -> Vec<Section<'_>> {
    let mut heads: Vec<(usize, usize, &str)> = Vec::new(); // (offset, level, title)
    let mut offset = 0;
    let mut fenced = false;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end();
        if l.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            for (level, prefix) in [(3, "### "), (2, "## ")] {
                if let Some(title) = l.strip_prefix(prefix) {
                    heads.push((offset, level, title.trim()));
                    break;
                }
            }
        }
        offset += line.len();
    }
    heads
        .iter()
        .enumerate()
        .map(|(i, &(start, level, title))| {
            let end = heads[i + 1..]
                .iter()
                .find(|h| h.1 <= level)
                .map(|h| h.0)
                .unwrap_or(text.len());
            Section {
                title,
                level,
                text: &text[start..end],
            }
        })
        .collect()
}

/// The section `topic` names: its topic name exactly, else the only one whose topic
/// starts with it.
pub fn find<'a>(text: &'a str, topic: &str) -> Option<Section<'a>> {
    let want = topic.trim().to_lowercase().replace([' ', '_', '.'], "-");
    let all = sections(text);
    if let Some(s) = all.iter().find(|s| s.topic() == want) {
        return Some(s.clone());
    }
    let mut prefixed = all.iter().filter(|s| s.topic().starts_with(&want));
    match (prefixed.next(), prefixed.next()) {
        (Some(s), None) => Some(s.clone()),
        _ => None,
    }
}

/// The list `sesame help` prints after the manual's first lines.
pub fn topics(text: &str) -> String {
    let mut out = String::new();
    for s in sections(text) {
        let indent = if s.level == 2 { "  " } else { "    " };
        out.push_str(&format!("{indent}{:<24} {}\n", s.topic(), s.title));
    }
    out
}

/// `sesame help [topic]`; exit code 2 for an unknown topic.
pub fn run(topic: Option<&str>) -> i32 {
    match topic {
        Some("all") => {
            print!("{MANUAL}");
            0
        }
        Some(t) => match find(MANUAL, t) {
            Some(s) => {
                print!("{}", s.text);
                0
            }
            None => {
                eprintln!("no topic {t:?} in the manual; the topics are:");
                eprint!("{}", topics(MANUAL));
                2
            }
        },
        None => {
            let intro = MANUAL.split("\n## ").next().unwrap_or_default();
            println!("{}\n", intro.trim_end());
            println!("Topics (`sesame help <topic>`, or `sesame help all` for everything):");
            print!("{}", topics(MANUAL));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::install::configfile::CONFIG_KEYS;
    use clap::CommandFactory;

    const DOC: &str =
        "# T\nintro\n## Commands\nc\n### sesame build\nb\n```\n## not a heading\n```\n\
                       ### sesame check\nk\n## Config file\nf\n";

    #[test]
    fn sections_nest_and_skip_code() {
        let s = sections(DOC);
        let titles: Vec<&str> = s.iter().map(|s| s.title).collect();
        assert_eq!(
            titles,
            ["Commands", "sesame build", "sesame check", "Config file"]
        );
        assert!(s[0].text.contains("### sesame check") && !s[0].text.contains("## Config"));
        assert!(s[1].text.contains("## not a heading") && !s[1].text.contains("check"));
        assert_eq!(find(DOC, "build").unwrap().title, "sesame build");
        assert_eq!(find(DOC, "config").unwrap().title, "Config file");
        assert_eq!(find(DOC, "Config File").unwrap().title, "Config file");
        assert_eq!(find(DOC, "nope"), None);
        assert!(topics(DOC).contains("config-file"));
        assert_eq!(sections("no headings"), vec![]);
    }

    /// The manual's section on config keys and on boot parameters.
    fn section(topic: &str) -> &'static str {
        find(MANUAL, topic)
            .unwrap_or_else(|| panic!("the manual has no {topic} section"))
            .text
    }

    #[test]
    fn the_manual_documents_every_boot_parameter() {
        let text = section("boot-parameters");
        for key in crate::cmdline::known_keys() {
            assert!(
                text.contains(&format!("`{key}`"))
                    || text.contains(&format!("`{key}="))
                    || text.contains(&format!("`{key}.")),
                "the manual's boot parameters section does not mention `{key}`"
            );
        }
    }

    #[test]
    fn the_manual_documents_every_config_key_with_its_default() {
        let text = section("config-file");
        for key in CONFIG_KEYS {
            let (sec, name) = key.key.split_once('.').unwrap();
            let table = find(text, sec)
                .unwrap_or_else(|| panic!("no `### [{sec}]` section in the manual's config"));
            let line = table
                .text
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}`")))
                .unwrap_or_else(|| panic!("no row for {} in the manual", key.key));
            let default = key.default.unwrap_or("unset");
            assert!(
                line.contains(&format!("`{default}`")),
                "{}: the manual's row {line:?} lacks the default `{default}`",
                key.key
            );
        }
    }

    #[test]
    fn the_manual_documents_every_command_and_option() {
        let commands = section("commands");
        let cli = Cli::command();
        for sub in cli.get_subcommands() {
            let name = sub.get_name();
            let doc = find(commands, name)
                .unwrap_or_else(|| panic!("no `### sesame {name}` in the manual"))
                .text;
            let mut args: Vec<&clap::Arg> = sub.get_arguments().collect();
            for nested in sub.get_subcommands() {
                args.extend(nested.get_arguments());
            }
            for arg in args {
                if let Some(long) = arg.get_long() {
                    if long == "help" || long == "version" {
                        continue;
                    }
                    assert!(
                        doc.contains(&format!("--{long}")),
                        "the manual's `sesame {name}` does not mention --{long}"
                    );
                }
            }
        }
    }
}
