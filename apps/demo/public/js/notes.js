// The notes page: lists, creates and deletes notes through session.fetch. The server's guard
// decides what each role may do; the page only hides the delete buttons a role cannot use.

(async () => {
  const demo = window.SelloDemo;
  const MAX_LENGTH = 500;

  const form = document.getElementById("note-form");
  const textField = document.getElementById("note-text");
  const submit = document.getElementById("note-submit");
  const formError = document.getElementById("form-error");
  const formStatus = document.getElementById("form-status");
  const list = document.getElementById("notes");
  const listStatus = document.getElementById("list-status");
  const listError = document.getElementById("list-error");

  const started = await demo.startPage("/notes");
  if (started === null) {
    return;
  }
  const { session, user } = started;
  const can = (permission) => user.permissions.includes(permission);

  let notes = [];
  let loaded = false;

  let summary = "notes.summary.read";
  if (can("notes:delete")) {
    summary = "notes.summary.delete";
  } else if (can("notes:write")) {
    summary = "notes.summary.write";
  }
  demo.setText(document.getElementById("role-summary"), summary);

  function renderNote(note) {
    const item = document.createElement("li");
    item.className = "note";

    const text = document.createElement("p");
    text.className = "note__text";
    text.textContent = note.text;

    const meta = document.createElement("p");
    meta.className = "note__meta";
    const time = document.createElement("time");
    time.dateTime = note.createdAt;
    time.textContent = demo.formatTime(note.createdAt);
    const author = document.createElement("span");
    author.className = "note__author";
    author.textContent = note.author;
    meta.append(author, " · ", time);
    item.append(text, meta);

    if (can("notes:delete")) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--small button--danger";
      demo.setText(remove, "notes.delete");
      demo.setLabel(remove, "notes.deleteLabel", {
        author: note.author,
        time: time.textContent,
      });
      remove.addEventListener("click", () => deleteNote(note, remove));
      meta.append(remove);
    }
    return item;
  }

  function render() {
    list.replaceChildren(...notes.map(renderNote));
    if (!loaded) {
      demo.setText(listStatus, "notes.list.loading");
    } else if (notes.length === 0) {
      demo.setText(listStatus, "notes.list.empty");
    } else {
      demo.setText(listStatus, "notes.list.count", { count: notes.length });
    }
  }

  async function load() {
    render();
    try {
      const data = await demo.callApi(session, "GET", "/api/notes");
      notes = data.notes;
      loaded = true;
      demo.clearMessage(listError);
      render();
    } catch (error) {
      demo.clearMessage(listStatus);
      demo.showError(listError, error);
    }
  }

  async function deleteNote(note, button) {
    button.disabled = true;
    demo.clearMessage(listError);
    try {
      await demo.callApi(session, "DELETE", `/api/notes/${encodeURIComponent(note.id)}`);
      notes = notes.filter((other) => other.id !== note.id);
      render();
      demo.showMessage(formStatus, "notes.deleted");
    } catch (error) {
      demo.showError(listError, error, {
        insufficient_permissions: "notes.deleteDenied",
        not_found: "notes.deleteGone",
      });
      if (demo.errorCodeOf(error) === "not_found") {
        notes = notes.filter((other) => other.id !== note.id);
        render();
      }
      button.disabled = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    demo.clearMessage(formError);
    demo.clearMessage(formStatus);
    const text = textField.value.trim();
    if (text === "" || [...text].length > MAX_LENGTH) {
      demo.showMessage(formError, "notes.new.invalid");
      textField.focus();
      return;
    }

    submit.disabled = true;
    demo.setText(submit, "notes.new.saving");
    try {
      const data = await demo.callApi(session, "POST", "/api/notes", { text });
      notes = [data.note, ...notes];
      textField.value = "";
      render();
      demo.showMessage(formStatus, "notes.new.created");
    } catch (error) {
      demo.showError(formError, error, {
        insufficient_permissions: "notes.new.denied",
        validation_failed: "notes.new.invalid",
      });
    }
    submit.disabled = false;
    demo.setText(submit, "notes.new.submit");
  });

  demo.onLanguageChange(render);
  await load();
})();
