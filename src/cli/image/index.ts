import type { Command } from "commander";
import { registerInspectCommand } from "../inspect.js";
import { addAnalyze } from "./analyze.js";
import { addImport, addLoad, addSave } from "./archive.js";
import { addHistory } from "./history.js";
import { addImageInspect } from "./inspect.js";
import { addImages } from "./list.js";
import { addImagePrune, addRmi, addTag } from "./tag-remove.js";

/**
 * Image commands with Docker's names, flags and columns, a file per family (archive: import,
 * load, save; list: images; history; tag-remove: tag, rmi, image prune; inspect; analyze), each
 * under its top-level name and in the `berth image …` group. Store modules load lazily.
 */

export function registerImageCommands(program: Command): void {
  addImport(program);
  addLoad(program);
  addSave(program);
  addImages(program, "images");
  addHistory(program);
  addTag(program);
  addRmi(program, "rmi");
  registerInspectCommand(program);

  const image = program
    .command("image")
    .description("Manage images")
    .addHelpText("after", "\nAlso, as Docker's: image ls|list (berth images), rm (berth rmi), build, pull, push, tag, history, save,\nload, import: the top-level command of that name.");
  addImport(image);
  addLoad(image);
  addSave(image);
  addImages(image, "ls", "list");
  addHistory(image);
  addTag(image);
  addRmi(image, "rm", "remove");
  addImageInspect(image);
  addImagePrune(image);
  addAnalyze(image);
}
