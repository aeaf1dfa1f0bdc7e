/** A repeatable option's values, in order (commander's reducer for `-e A -e B`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
