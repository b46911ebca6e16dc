import { SETTINGS, type SettingDefinition } from "./settings.js";

/** Escapes text for a Markdown table cell. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function unitCell(definition: SettingDefinition): string {
  if (definition.allowed !== undefined) {
    return definition.allowed.map((value) => `\`${value}\``).join(", ");
  }
  return definition.unit;
}

/**
 * Renders the settings table of docs/configuration.md: one Markdown row per setting with its
 * variable, file key, default, unit or allowed values, and meaning.
 */
export function renderSettingsTable(settings: readonly SettingDefinition[] = SETTINGS): string {
  const lines = [
    "| Variable | File key | Default | Unit or allowed values | Meaning |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const definition of settings) {
    const cells = [
      `\`${definition.env}\``,
      `\`${definition.fileKey}\``,
      definition.defaultDescription,
      unitCell(definition),
      definition.description,
    ];
    lines.push(`| ${cells.map(cell).join(" | ")} |`);
  }
  return `${lines.join("\n")}\n`;
}
