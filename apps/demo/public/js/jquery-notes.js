// The notes page written the classic way, with jQuery, $.ajax and callbacks. After
// Sello.attachToJQuery, every $.ajax call to this origin carries the access token, and an expired
// token is renewed before jQuery receives the response. The page calls Sello itself only after
// another 401, such as a revoked token.

jQuery(($) => {
  const demo = window.SelloDemo;
  const MAX_LENGTH = 500;

  const $form = $("#note-form");
  const $text = $("#note-text");
  const $submit = $("#note-submit");
  const $formError = $("#form-error");
  const $formStatus = $("#form-status");
  const $list = $("#notes");
  const $listStatus = $("#list-status");
  const $listError = $("#list-error");

  let session;
  let user;
  let notes = [];
  let loaded = false;

  demo.startPage("/jquery").then((started) => {
    if (started === null) {
      return;
    }
    session = started.session;
    user = started.user;
    Sello.attachToJQuery(session, $);
    demo.onLanguageChange(render);
    loadNotes();
  });

  function can(permission) {
    return user.permissions.indexOf(permission) !== -1;
  }

  /**
   * $.ajax with one retry after a 401 other than token_expired (which the adapter handles), such
   * as a revoked token: a refresh either gets a new token or ends the session, and then the
   * login page opens.
   */
  function ajax(settings) {
    return $.ajax(settings).catch((xhr) => {
      if (xhr.status !== 401) {
        throw xhr;
      }
      return session.refresh().then((token) => {
        if (token === null) {
          demo.goToLogin("ended");
          throw xhr;
        }
        return $.ajax(settings);
      });
    });
  }

  /**
   * Returns the Sello error code of a failed jqXHR: the body's `error`, or network_error when no
   * response arrived.
   */
  function errorOf(xhr) {
    if (xhr.status === 0) {
      return { code: "network_error" };
    }
    const body = xhr.responseJSON;
    return { code: body && typeof body.error === "string" ? body.error : "invalid_response" };
  }

  function render() {
    $list.empty();
    $.each(notes, (_index, note) => {
      const time = demo.formatTime(note.createdAt);
      const $meta = $("<p>", { class: "note__meta" }).append(
        $("<span>", { class: "note__author", text: note.author }),
        " · ",
        $("<time>", { datetime: note.createdAt, text: time }),
      );
      if (can("notes:delete")) {
        const $remove = $("<button>", {
          type: "button",
          class: "button button--small button--danger",
          "data-note-id": note.id,
        });
        demo.setText($remove[0], "notes.delete");
        demo.setLabel($remove[0], "notes.deleteLabel", { author: note.author, time });
        $meta.append($remove);
      }
      $list.append(
        $("<li>", { class: "note" }).append(
          $("<p>", { class: "note__text", text: note.text }),
          $meta,
        ),
      );
    });

    if (!loaded) {
      demo.setText($listStatus[0], "notes.list.loading");
    } else if (notes.length === 0) {
      demo.setText($listStatus[0], "notes.list.empty");
    } else {
      demo.setText($listStatus[0], "notes.list.count", { count: notes.length });
    }
  }

  function loadNotes() {
    render();
    ajax({ url: "/api/notes", dataType: "json" }).then(
      (data) => {
        notes = data.notes;
        loaded = true;
        demo.clearMessage($listError[0]);
        render();
      },
      (xhr) => {
        demo.clearMessage($listStatus[0]);
        demo.showError($listError[0], errorOf(xhr));
      },
    );
  }

  $form.on("submit", (event) => {
    event.preventDefault();
    demo.clearMessage($formError[0]);
    demo.clearMessage($formStatus[0]);
    const text = String($text.val()).trim();
    if (text === "" || Array.from(text).length > MAX_LENGTH) {
      demo.showMessage($formError[0], "notes.new.invalid");
      $text.trigger("focus");
      return;
    }

    $submit.prop("disabled", true);
    demo.setText($submit[0], "notes.new.saving");
    ajax({
      url: "/api/notes",
      method: "POST",
      contentType: "application/json",
      data: JSON.stringify({ text }),
      dataType: "json",
    })
      .then(
        (data) => {
          notes = [data.note].concat(notes);
          $text.val("");
          render();
          demo.showMessage($formStatus[0], "notes.new.created");
        },
        (xhr) => {
          demo.showError($formError[0], errorOf(xhr), {
            insufficient_permissions: "notes.new.denied",
            validation_failed: "notes.new.invalid",
          });
        },
      )
      .always(() => {
        $submit.prop("disabled", false);
        demo.setText($submit[0], "notes.new.submit");
      });
  });

  $list.on("click", "button[data-note-id]", function onDelete() {
    const $button = $(this);
    const id = $button.attr("data-note-id");
    $button.prop("disabled", true);
    demo.clearMessage($listError[0]);
    ajax({ url: `/api/notes/${encodeURIComponent(id)}`, method: "DELETE" }).then(
      () => {
        notes = $.grep(notes, (note) => note.id !== id);
        render();
        demo.showMessage($formStatus[0], "notes.deleted");
      },
      (xhr) => {
        const error = errorOf(xhr);
        demo.showError($listError[0], error, {
          insufficient_permissions: "notes.deleteDenied",
          not_found: "notes.deleteGone",
        });
        $button.prop("disabled", false);
      },
    );
  });
});
