# Wharf, built in one stage and run in a slim one as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    WHARF_HTTP_HOST=0.0.0.0 \
    WHARF_STORAGE_PATH=/var/lib/wharf
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json config.example.yaml ./
RUN mkdir -p /var/lib/wharf && chown node:node /var/lib/wharf
USER node
VOLUME /var/lib/wharf
EXPOSE 5000
ENTRYPOINT ["node", "dist/src/cli/index.js"]
CMD ["serve"]
