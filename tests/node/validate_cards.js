#!/usr/bin/env node
// Checks Adaptive Cards with the official Adaptive Cards library (npm `adaptivecards`), as Teams would see
// them: schema 1.5, Universal Actions (Action.Execute) included.
//
// Two ways to run it:
//   node validate_cards.js card.json ...   prints each file's problems; exit 1 if any card has one.
//   node validate_cards.js                 serves JSON lines: read {"id": 1, "card": {...}} on stdin,
//                                          answer {"id": 1, "problems": ["..."]} on stdout, until stdin
//                                          closes. The first line written is {"ready": true, ...}.
// tests/cardcheck.py keeps one such server for a whole test session.
//
// A problem is any event the library logs while parsing the card (unknown element or action types,
// values outside an enum, properties newer than 1.5...) or reports from `validateProperties()` (duplicate
// or missing input ids, required inputs without a label or error message, a card version above 1.5...).
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");

// The package's default entry (lib/) does not resolve under Node 20; the bundled build does, without a DOM.
const AC = require("adaptivecards/dist/adaptivecards.js");
const LIBRARY_VERSION = require("adaptivecards/package.json").version;

const TARGET = AC.Versions.v1_5;

// Teams renders Input.ChoiceSet's `choices.data` (a Data.Query: the people picker and dynamic typeahead,
// documented for Teams' 1.5 cards), but the library files that property and the Data.Query fields under
// schema 1.6, so at 1.5 it would report "Property "choices.data" is supported in version 1.6". These five
// property definitions, and nothing else, are moved to 1.5; every other 1.6 feature still fails.
for (const property of [
    AC.ChoiceSetInput.choicesDataProperty,
    AC.ChoiceSetInputDataQuery.typeProperty,
    AC.ChoiceSetInputDataQuery.datasetProperty,
    AC.ChoiceSetInputDataQuery.countProperty,
    AC.ChoiceSetInputDataQuery.skipProperty,
]) {
    property.targetVersion = TARGET;
}

// The library also insists that every Input.ChoiceSet lists at least one static choice, which Teams' own
// people-picker example (`"choices": []` with `choices.data`) does not: Teams fetches the choices as the user
// types. That one event is accepted for a ChoiceSet that has a Data.Query with a dataset, and only there.
function isDynamicChoiceSetWithoutStaticChoices(event) {
    const source = event.source;
    return (
        event.event === AC.ValidationEvent.CollectionCantBeEmpty &&
        source instanceof AC.ChoiceSetInput &&
        !!source.choicesData &&
        source.choicesData.type === "Data.Query" &&
        !!source.choicesData.dataset
    );
}

function describeSource(source) {
    if (!source || typeof source.getJsonTypeName !== "function") {
        return "";
    }
    const type = source.getJsonTypeName();
    const id = typeof source.id === "string" && source.id ? ` "${source.id}"` : "";
    return type ? ` (in ${type}${id})` : "";
}

function describe(event) {
    const phase = AC.ValidationPhase[event.phase] || String(event.phase);
    const kind = AC.ValidationEvent[event.event] || String(event.event);
    return `${phase}/${kind}: ${event.message}${describeSource(event.source)}`;
}

function validate(json) {
    // The library parses whatever it is given: a missing "version" silently becomes 1.0 and a wrong root
    // "type" goes unremarked, so these two are checked here; Teams refuses such an attachment.
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
        return ["Root: the card must be a JSON object"];
    }
    const problems = [];
    if (json.type !== "AdaptiveCard") {
        problems.push(`Root/MissingCardType: "type" must be "AdaptiveCard", got ${JSON.stringify(json.type)}`);
    }
    if (typeof json.version !== "string") {
        problems.push(`Root/PropertyCantBeNull: "version" must be set, as a string like "1.5"`);
    }

    const card = new AC.AdaptiveCard();
    card.maxVersion = TARGET;
    const context = new AC.SerializationContext(TARGET);
    try {
        card.parse(json, context);
    } catch (error) {
        return [...problems, `Parse/Exception: ${error && error.message ? error.message : String(error)}`];
    }
    for (let i = 0; i < context.eventCount; i++) {
        problems.push(describe(context.getEventAt(i)));
    }
    for (const event of card.validateProperties().validationEvents) {
        if (!isDynamicChoiceSetWithoutStaticChoices(event)) {
            problems.push(describe(event));
        }
    }
    return problems;
}

function serve() {
    const write = (message) => process.stdout.write(JSON.stringify(message) + "\n");
    write({ ready: true, adaptivecards: LIBRARY_VERSION, targetVersion: TARGET.toString() });
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    lines.on("line", (line) => {
        if (!line.trim()) {
            return;
        }
        let request;
        try {
            request = JSON.parse(line);
        } catch (error) {
            write({ id: null, error: `not a JSON line: ${error.message}` });
            return;
        }
        write({ id: request.id, problems: validate(request.card) });
    });
}

function checkFiles(files) {
    let failed = 0;
    for (const file of files) {
        const problems = validate(JSON.parse(fs.readFileSync(path.resolve(file), "utf8")));
        console.log(problems.length ? `${file}: ${problems.length} problem(s)` : `${file}: clean`);
        for (const problem of problems) {
            console.log(`  - ${problem}`);
        }
        failed += problems.length ? 1 : 0;
    }
    return failed ? 1 : 0;
}

if (require.main === module) {
    const files = process.argv.slice(2);
    if (files.length) {
        process.exitCode = checkFiles(files);
    } else {
        serve();
    }
}

module.exports = { validate, LIBRARY_VERSION, TARGET };
