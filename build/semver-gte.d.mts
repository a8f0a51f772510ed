export declare function gte(a: string, b: string): boolean;
