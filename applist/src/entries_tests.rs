use super::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn entry(name: &str, extra: &str) -> String {
    format!("[Desktop Entry]\nType=Application\nName={name}\nExec=sh -c true\n{extra}")
}

fn ids(apps: &[App]) -> Vec<&str> {
    apps.iter().map(|a| a.id.as_str()).collect()
}

#[test]
fn ids_shadowing_and_the_spec_filters() {
    let d = tempfile::tempdir().unwrap();
    let (home, system) = (d.path().join("home/applications"), d.path().join("system/applications"));
    write(&system.join("plain.desktop"), &entry("Plain", ""));
    write(&system.join("vendor/sub/tool.desktop"), &entry("Tool", ""));
    write(&system.join("shadowed.desktop"), &entry("System's", ""));
    write(&home.join("shadowed.desktop"), &entry("User's", ""));
    write(&system.join("removed.desktop"), &entry("Removed", ""));
    write(&home.join("removed.desktop"), &entry("Removed", "Hidden=true\n"));
    write(&system.join("nodisplay.desktop"), &entry("N", "NoDisplay=true\n"));
    write(&system.join("kde.desktop"), &entry("K", "OnlyShowIn=KDE;\n"));
    write(&system.join("ours.desktop"), &entry("O", "OnlyShowIn=GNOME;wayrail;\n"));
    write(&system.join("notours.desktop"), &entry("NO", "NotShowIn=wayrail;\n"));
    write(&system.join("tryexec.desktop"), &entry("T", "TryExec=wayrail-no-such-program\n"));
    write(&system.join("tryexec-ok.desktop"), &entry("T", "TryExec=sh\n"));
    write(&system.join("term.desktop"), &entry("Term", "Terminal=true\n"));
    write(&system.join("link.desktop"), "[Desktop Entry]\nType=Link\nName=L\nURL=x\n");
    write(&system.join("broken.desktop"), "no group\n");
    write(&system.join("noexec.desktop"), "[Desktop Entry]\nType=Application\nName=X\n");
    write(&system.join("notes.txt"), &entry("txt", ""));
    let dirs = vec![home, system.clone(), d.path().join("missing")];
    let apps = scan(&dirs, &Rules::default());
    assert_eq!(ids(&apps), ["ours", "plain", "shadowed", "tryexec-ok", "vendor-sub-tool"]);
    assert_eq!(apps.iter().find(|a| a.id == "shadowed").unwrap().name, "User's");

    let rules = Rules { terminal: Some(vec!["foot".into(), "-e".into()]), ..Rules::default() };
    let apps = scan(&dirs, &rules);
    let term = apps.iter().find(|a| a.id == "term").expect("a Terminal entry with a terminal set");
    assert_eq!(term.exec, "foot -e sh -c true");
    assert_eq!(term.program, "foot");
}

#[test]
fn exec_field_codes_working_dir_and_localized_names() {
    let d = tempfile::tempdir().unwrap();
    let apps_dir = d.path().join("applications");
    write(
        &apps_dir.join("org.example.Editor.desktop"),
        "[Desktop Entry]\nType=Application\nName=Editor\nName[de]=Bearbeiter\nName[de_AT]=Editor (AT)\n\
         Comment=Edits\nComment[de]=Bearbeitet\nExec=\"/opt/my editor/bin/ed\" --new %U %f %i\n\
         Path=/tmp\nIcon=accessories-text-editor\nStartupWMClass=EdClass\n",
    );
    let dirs = vec![apps_dir];
    let app = scan(&dirs, &Rules::default()).remove(0);
    assert_eq!(app.name, "Editor");
    assert_eq!(app.comment.as_deref(), Some("Edits"));
    assert_eq!(app.exec, "\"/opt/my editor/bin/ed\" --new --icon accessories-text-editor");
    assert_eq!(app.program, "ed");
    assert_eq!(app.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(app.icon.as_deref(), Some("accessories-text-editor"));
    let de = Rules { locales: locales_for("de_DE"), ..Rules::default() };
    let app = scan(&dirs, &de).remove(0);
    assert_eq!((app.name.as_str(), app.comment.as_deref()), ("Bearbeiter", Some("Bearbeitet")));
    let at = Rules { locales: locales_for("de-AT"), ..Rules::default() };
    assert_eq!(scan(&dirs, &at).remove(0).name, "Editor (AT)");

    assert!(window_matches(&app, "org.example.Editor"));
    assert!(window_matches(&app, "edclass"));
    assert!(window_matches(&app, "ed"));
    assert!(window_matches(&app, "editor"), "the last part of a reverse-DNS ID");
    assert!(!window_matches(&app, "foot") && !window_matches(&app, ""));
}

#[test]
fn commands_split_back_as_wayrail_splits_them() {
    let args: Vec<String> = ["/opt/a b/x", "it's", "say \"hi\"", "back\\slash", "", "plain"].map(String::from).to_vec();
    let line = join_command(&args);
    assert_eq!(line, r#""/opt/a b/x" "it's" "say \"hi\"" "back\\slash" "" plain"#);
}

#[test]
fn icons_of_app_ids() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("x.desktop");
    write(&f, "[Desktop Entry]\nName=X\nIcon=xicon\nStartupWMClass=XClass\n[Desktop Action new]\nIcon=other\n");
    assert_eq!(desktop_icon(&f, None).as_deref(), Some("xicon"));
    assert_eq!(desktop_icon(&f, Some("xclass")).as_deref(), Some("xicon"));
    assert_eq!(desktop_icon(&f, Some("y")), None);
    let dirs = vec![d.path().to_path_buf()];
    assert_eq!(icon_for_app_id(&dirs, "x").as_deref(), Some("xicon"));
    assert_eq!(icon_for_app_id(&dirs, "XClass").as_deref(), Some("xicon"));
    assert_eq!(icon_for_app_id(&dirs, "nothing"), None);
}

#[test]
fn the_icon_field_code_without_an_icon_is_nothing() {
    let d = tempfile::tempdir().unwrap();
    let apps_dir = d.path().join("applications");
    write(&apps_dir.join("a.desktop"), "[Desktop Entry]\nType=Application\nName=A\nExec=app %i --x %c\n");
    let app = scan(&[apps_dir], &Rules::default()).remove(0);
    assert_eq!(app.exec, "app --x A");
}
