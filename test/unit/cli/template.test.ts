import { describe, expect, it } from "vitest";
import { formatRows, renderTemplate } from "../../../src/cli/format.js";
import { TemplateError, TemplateParseError } from "../../../src/cli/template.js";

const obj = {
  Name: "/web",
  Id: "abc",
  Config: { Env: ["A=1", "B=2"], Labels: { "com.x": "1", b: "two" }, Cmd: null, Tty: false },
  State: { Status: "running", ExitCode: 0 },
  NetworkSettings: { Networks: { bridge: { IPAddress: "172.17.0.2" } } },
  Mounts: [],
};

/** Cases checked against Go's text/template with docker/cli's functions (docker inspect on the same object). */
const cases: Array<[string, string]> = [
  ["{{.Name}}", "/web"],
  ["{{.State.Status}} {{.State.ExitCode}}", "running 0"],
  ["{{.Config.Env}}", "[A=1 B=2]"],
  ["{{.Config.Labels}}", "map[b:two com.x:1]"],
  ["{{.Config.Cmd}}", "<nil>"],
  ["{{.Mounts}}", "[]"],
  ["{{json .Config.Env}}", '["A=1","B=2"]'],
  ["{{.Config.Env | json}}", '["A=1","B=2"]'],
  ["{{range .Config.Env}}{{.}};{{end}}", "A=1;B=2;"],
  ["{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}", "0=A=1 1=B=2 "],
  ["{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}{{end}}", "bridge 172.17.0.2"],
  ["{{range .Mounts}}x{{else}}none{{end}}", "none"],
  ['{{index .Config.Labels "com.x"}}', "1"],
  ["{{index .Config.Env 1}}", "B=2"],
  ['{{index .Config.Labels "nope"}}', "<no value>"],
  ["{{if .Config.Tty}}tty{{else if .Name}}named{{else}}no{{end}}", "named"],
  ['{{if eq .State.Status "running"}}up{{end}}', "up"],
  ["{{with .State}}{{.Status}}{{end}}", "running"],
  ["{{println .Name}}", "/web\n"],
  ['{{join .Config.Env ","}}', "A=1,B=2"],
  ['{{upper .State.Status}} {{lower "AB"}} {{title "hello world"}}', "RUNNING ab Hello World"],
  ['{{split "a:b:c" ":"}}', "[a b c]"],
  ["{{len .Config.Env}} {{len .Name}}", "2 4"],
  ["{{$n := .Name}}{{$n}}", "/web"],
  ["{{- .Name -}}  \n", "/web"],
  ["a {{/* comment */}}b", "a b"],
  ['{{printf "%s-%d" .Name 3}}', "/web-3"],
  ["{{(index .Config.Env 0)}}", "A=1"],
  ['{{pad "x" 1 2}}|{{truncate .Id 2}}', " x  |ab"],
  ["{{not .Config.Tty}} {{and 1 0}} {{or 0 2}}", "true 0 2"],
  ["{{.}}", "map[Config:map[Cmd:<nil> Env:[A=1 B=2] Labels:map[b:two com.x:1] Tty:false] Id:abc Mounts:[] Name:/web NetworkSettings:map[Networks:map[bridge:map[IPAddress:172.17.0.2]]] State:map[ExitCode:0 Status:running]]"],
];

describe("Go templates (--format)", () => {
  it.each(cases)("%s", (template, want) => {
    expect(renderTemplate(template, obj)).toBe(want);
  });

  it("json writes integers of any size exactly", () => {
    expect(renderTemplate("{{json .}} {{.N}}", { N: 10n ** 19n + 1n })).toBe('{"N":10000000000000000001} 10000000000000000001');
  });

  it("json alone is the object as JSON", () => {
    expect(JSON.parse(renderTemplate("json", obj))).toEqual(obj);
  });

  it.each([
    ["{{range}}{{end}}", "template parsing error: template: :1: missing value for range"],
    ["{{.Name", "template parsing error: template: :1: unclosed action"],
    ["{{nope .Name}}", 'template parsing error: template: :1: function "nope" not defined'],
    ["{{if .Name}}x", "template parsing error: template: :1: unexpected EOF"],
    ["{{end}}", "template parsing error: template: :1: unexpected {{end}}"],
  ])("parse error %s", (template, message) => {
    let err: unknown;
    try {
      renderTemplate(template, obj);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TemplateParseError);
    expect((err as Error).message).toBe(message);
  });

  it("a key a map lacks is Go's <no value>; a field a struct lacks, or a field of nothing, is an execution error naming it", () => {
    expect(renderTemplate("{{.Config.Labels.nope}}|{{.NetworkSettings.Networks.host}}", obj)).toBe("<no value>|<no value>");
    expect(renderTemplate("{{.NetworkSettings.Networks.bridge.IPAddress}}", obj)).toBe("172.17.0.2");
    expect(() => renderTemplate("x\n {{.Nope}}", obj)).toThrow(TemplateError);
    expect(() => renderTemplate("x\n {{.Nope}}", obj)).toThrow('template parsing error: template: :2:3: executing "" at <.Nope>: can\'t evaluate field Nope in type struct');
    expect(() => renderTemplate("{{.NetworkSettings.Networks.bridge.Nope}}", obj)).toThrow("can't evaluate field Nope in type struct");
    expect(() => renderTemplate("x\n {{.Config.Labels.nope.Deeper}}", obj)).toThrow('template parsing error: template: :2:3: executing "" at <.Config.Labels.nope.Deeper>: nil pointer evaluating interface {}.Deeper');
    expect(() => renderTemplate("{{index .Config.Env 5}}", obj)).toThrow("index out of range: 5");
  });

  it("table formats put a header over tab-aligned rows", () => {
    const rows = [{ ID: "a1", Name: "first" }, { ID: "b22", Name: "second" }];
    expect(formatRows("table {{.ID}}\\t{{.Name}}", rows, { ID: "CONTAINER ID", Name: "NAMES" })).toBe(
      "CONTAINER ID   NAMES\na1             first\nb22            second\n",
    );
    expect(formatRows("{{.ID}}:{{.Name}}", rows, {})).toBe("a1:first\nb22:second\n");
    expect(formatRows("json", rows, {})).toBe('{"ID":"a1","Name":"first"}\n{"ID":"b22","Name":"second"}\n');
  });
});
